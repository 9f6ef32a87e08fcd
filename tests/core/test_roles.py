"""The role table (core.roles): names, shapes and siblings that make a codebook, heads, a field, or data."""

import pytest

from core.adapters.codebook import layout_adapter
from core.roles import (
    ROLE_PATTERNS,
    data_message,
    find_codebooks,
    find_fields,
    find_heads,
    find_roles,
    is_data,
    looks_like,
    matches,
    roles_of,
)


def test_every_row_of_the_table_has_a_pattern_shapes_and_a_confirmation():
    roles = [p.role for p in ROLE_PATTERNS]
    assert len(roles) == len(set(roles))
    assert {"codebook", "usage", "mean head", "variance head", "moments head", "vector field"} <= set(roles)
    assert all(p.names and p.shapes and p.confirmed_by for p in ROLE_PATTERNS)


@pytest.mark.parametrize(
    ("role", "name", "expected"),
    [
        ("codebook", "_vq_vae._embedding.weight", True),
        ("codebook", "quantize_t.embed", True),
        ("codebook", "bottleneck.level_blocks.0.k", True),
        ("codebook", "codebook.weight", True),
        ("codebook", "vq.dictionary", True),
        ("codebook", "emb.weight", True),
        ("codebook", "vq._codebook.embed", True),
        ("codebook", "quantizer.embeddings", True),
        ("codebook", "t5.shared.weight", False),
        ("codebook", "encoder.embed_tokens.weight", False),
        ("codebook", "bert.embeddings.word_embeddings.weight", False),
        ("codebook", "position_embedding.weight", False),
        ("usage", "_ema_cluster_size", True),
        ("usage", "cluster_size", True),
        ("usage", "k_elem", True),
        ("usage", "ema_count", True),
        ("usage", "usage", False),
        ("usage", "decay", False),
        ("mean head", "fc_mu", True),
        ("mean head", "fc_mean", True),
        ("mean head", "linear_mu", True),
        ("mean head", "z_mean", True),
        ("mean head", "hidden2mu", True),
        ("mean head", "z_loc", True),
        ("mean head", "local_conv", False),
        ("mean head", "mux", False),
        ("variance head", "fc_var", True),
        ("variance head", "fc_log_var", True),
        ("variance head", "linear_logvar", True),
        ("variance head", "log_std", True),
        ("variance head", "z_log_var", True),
        ("variance head", "sigma", True),
        ("variance head", "lvl_1", False),
        ("variance head", "variant", False),
        ("moments head", "mu_logvar_gen", True),
        ("moments head", "quant_conv", True),
        ("semantic head", "semantic_heads.classifier", True),
        ("semantic head", "decoder.conv_out", False),
    ],
)
def test_name_fragments(role, name, expected):
    assert matches(role, name) == expected


def _book(shapes):
    (role,) = find_codebooks(shapes)
    return role


def test_orientation_comes_from_usage_then_nn_embedding_then_widths_then_conventions():
    by_usage = _book(
        {"quantize.embed": (64, 512), "quantize.cluster_size": (512,), "quantize.embed_avg": (64, 512)}
    )
    assert (by_usage.layout, by_usage.size, by_usage.dim) == (
        "dk",
        512,
        64,
    ) and "usage buffer" in by_usage.orientation
    embedding = _book({"quantize.embedding.weight": (16, 256)})
    assert (embedding.layout, embedding.size, embedding.dim) == (
        "kd",
        16,
        256,
    ) and "nn.Embedding" in embedding.orientation
    widths = _book(
        {"encoder.0.weight": (8, 3, 4, 4), "emb.weight": (8, 512), "decoder.0.weight": (8, 4, 3, 3)}
    )
    assert (widths.layout, widths.size, widths.dim) == ("dk", 512, 8) and "width" in widths.orientation
    pre_quant = _book({"_pre_vq_conv.weight": (4, 16, 1, 1), "vq.weight_codes.k": (4, 10)})
    assert (pre_quant.size, pre_quant.dim) == (10, 4)
    bare_embed = _book({"vq.embed": (5, 5)})
    assert bare_embed.layout == "dk" and "Sonnet" in bare_embed.orientation
    assumed = _book({"vq.codes.k": (3, 40)})
    assert (assumed.size, assumed.dim) == (40, 3) and "assumed" in assumed.orientation


def test_several_codebooks_heads_and_usage_shapes():
    levels = find_codebooks(
        {f"quantize_{lvl}.{k}": s for lvl in "tb" for k, s in (("embed", (8, 32)), ("cluster_size", (32,)))}
    )
    assert [c.name for c in levels] == ["quantize_t", "quantize_b"] and all(c.usage for c in levels)
    heads = _book({"vq._codebook.embed": (2, 16, 4), "vq._codebook.cluster_size": (2, 16)})
    assert (heads.layout, heads.heads, heads.size, layout_adapter(heads)) == ("hkd", 2, 16, "vq_multihead")
    column = _book({"q._embedding.weight": (12, 3), "q._ema_cluster_size": (12, 1)})
    assert column.usage == "q._ema_cluster_size" and layout_adapter(column) == "vq_ema"


def test_counters_of_unknown_meaning_are_shown_never_read_as_usage():
    role = _book({"emb.weight": (4, 9), "emb.decay": (9,), "emb._code_usage": (9,), "emb.cluster_size": (9,)})
    assert role.usage == "emb.cluster_size"
    assert role.counters == ("emb.decay [9]", "emb._code_usage [9]")
    assert "not read as usage" in role.describe()
    unknown_only = _book({"quantizer.embedding.weight": (9, 4), "quantizer.usage": (9,)})
    assert unknown_only.usage is None and unknown_only.counters == ("quantizer.usage [9]",)


def test_token_embeddings_and_plain_mlps_are_no_codebooks_or_heads():
    assert find_roles({"shared.weight": (100, 8), "encoder.embed_tokens.weight": (100, 8)}).family is None
    mlp = {"fc1.weight": (64, 64), "fc2.weight": (64, 64), "fc3.weight": (10, 64)}
    assert find_roles(mlp).family is None
    prior = {"embedding.weight": (256, 64), "layers.0.vert_stack.weight": (128, 64, 4, 7)}
    assert find_roles(prior).codebooks == ()


def test_posterior_heads_in_every_form():
    pair = find_heads(
        {
            "encoder.0.weight": (16, 8),
            "fc_mu.weight": (4, 16),
            "fc_var.weight": (4, 16),
            "decoder_input.weight": (16, 4),
        }
    )
    assert (pair[0].mean, pair[0].variance, pair[0].latent, pair[0].decoder_input) == (
        "fc_mu",
        "fc_var",
        4,
        "decoder_input",
    )
    conv = find_heads(
        {"enc.mu.weight": (3, 8, 1, 1), "enc.log_std.weight": (3, 8, 1, 1), "dec.0.weight": (8, 3, 3, 3)}
    )
    assert conv[0].kind == "conv" and conv[0].parameterisation == "log_std"
    sigma = find_heads({"z_loc.weight": (2, 5), "z_scale.weight": (2, 5), "decoder.0.weight": (5, 2)})
    assert sigma[0].parameterisation == "std"
    twins = find_heads(
        {"fc1.weight": (12, 16), "fc21.weight": (6, 12), "fc22.weight": (6, 12), "fc3.weight": (12, 6)}
    )
    assert (twins[0].mean, twins[0].variance) == ("fc21", "fc22") and "twin" in twins[0].assumption
    named = find_heads({"encoder.mu_logvar_gen.weight": (20, 32), "decoder.lin1.weight": (32, 10)})
    assert (named[0].variance, named[0].latent, named[0].split) == (None, 10, "chunk")
    last = find_heads(
        {"encoder.0.weight": (8, 1, 4, 4), "encoder.5.weight": (12, 32), "decoder.0.weight": (32, 6)}
    )
    assert (last[0].mean, last[0].latent) == ("encoder.5", 6) and "last layer" in last[0].assumption
    kl = find_heads(
        {
            "encoder.conv_out.weight": (8, 16, 3, 3),
            "quant_conv.weight": (8, 8, 1, 1),
            "post_quant_conv.weight": (4, 4, 1, 1),
        }
    )
    assert (kl[0].mean, kl[0].latent, kl[0].decoder_input) == ("quant_conv", 4, "post_quant_conv")
    mismatch = find_heads({"fc_mu.weight": (4, 10), "fc_var.weight": (3, 10), "decoder.0.weight": (10, 4)})
    assert mismatch[0].mismatch == "fc_mu outputs 4 latents but fc_var outputs 3"


def test_heads_in_module_lists_and_heads_whose_mean_has_another_name():
    ladder = find_heads(
        {
            "encoder.layers.0.0.weight": (32, 64),
            "encoder.mu_s.0.weight": (8, 32),
            "encoder.log_var_s.0.weight": (8, 32),
            "encoder.layers.1.0.weight": (16, 8),
            "encoder.mu_s.1.weight": (4, 16),
            "encoder.log_var_s.1.weight": (4, 16),
            "decoder.layers.0.0.weight": (16, 4),
            "decoder.mu_s.0.weight": (8, 16),
            "decoder.log_var_s.0.weight": (8, 16),
            "decoder.layers.1.0.weight": (64, 8),
        }
    )
    # One pair per level, paired by index across the lists; the decoder's top-down priors left out.
    assert [(h.mean, h.variance, h.latent) for h in ladder] == [
        ("encoder.mu_s.0", "encoder.log_var_s.0", 8),
        ("encoder.mu_s.1", "encoder.log_var_s.1", 4),
    ]
    assert ladder[0].parameterisation == "logvar" and ladder[1].decoder_input == "decoder.layers.0.0"
    pythae = find_heads(
        {
            "encoder.layers.0.0.weight": (32, 64),
            "encoder.embedding.weight": (4, 32),
            "encoder.log_var.weight": (4, 32),
            "decoder.layers.0.0.weight": (32, 4),
        }
    )
    assert (pythae[0].mean, pythae[0].variance) == ("encoder.embedding", "encoder.log_var")
    assert "the one sibling of encoder.log_var's shape" in pythae[0].assumption
    # A lone `scale` beside a `shift` is an affine layer, and a log-variance with two same-shape
    # siblings or nothing that takes Z names no mean.
    assert find_heads({"scale.weight": (4, 8), "shift.weight": (4, 8), "out.weight": (8, 4)}) == []
    two = {"a.weight": (4, 8), "b.weight": (4, 8), "log_var.weight": (4, 8), "out.weight": (8, 4)}
    assert find_heads(two) == []
    assert find_heads({"embedding.weight": (4, 8), "log_var.weight": (4, 8)}) == []


def test_vector_fields_need_in_d_plus_a_and_out_d():
    (field,) = find_fields({"net.0.weight": (16, 15), "net.2.weight": (16, 16), "net.4.weight": (12, 16)})
    assert (field.prefix, field.dim, field.condition) == ("net", 12, 3)
    truncated = {"network.0.weight": (8, 15), "network.3.weight": (8, 8), "network.6.weight": (8, 8)}
    assert find_fields(truncated) == []
    sibling = {
        "attr_mlp.0.weight": (8, 3),
        "mlp.0.weight": (8, 20),
        "mlp.2.weight": (8, 8),
        "mlp.4.weight": (12, 8),
    }
    assert find_fields(sibling)[0].attributes == "attr_mlp"


def test_the_report_says_what_was_found_and_what_is_lacking():
    unknown = find_roles({"weird.thing": (3, 3)})
    report = unknown.report()
    assert unknown.family is None and "roles found: nothing of a known role" in report
    assert (
        "codebook" in report
        and "posterior heads" in report
        and "vector field" in report
        and "weird.thing" in report
    )
    no_usage = find_roles({"quantize.embedding.weight": (16, 4)})
    assert no_usage.family == "codebook" and "usage buffers" in no_usage.report()
    assert no_usage.to_json()["lacking"] == no_usage.lacking()
    demo_like = find_roles(
        {"encoder.net.0.weight": (8, 4), "quantizer._embedding.weight": (16, 4), "quantizer._ema_cluster_size": (16,),
         "decoder.net.0.weight": (4, 4), "semantic_heads.classifier.weight": (10, 4)}
    )  # fmt: skip
    assert demo_like.parts() == ("encoder", "codebook", "ema usage", "decoder", "semantic heads")


def test_roles_of_is_memoised_on_the_shapes():
    shapes = {"codebook.weight": (8, 3)}
    assert roles_of(shapes) is roles_of(dict(shapes))


@pytest.mark.parametrize(
    ("tensors", "data"),
    [
        ({"features": ((10, 4), "float32")}, True),
        ({"codes": ((10, 3), "int64")}, True),
        ({"mean": ((3,), "float32"), "std": ((3,), "float32")}, True),
        ({"counts": ((16,), "float32")}, True),
        ({"w": ((2,), "float32")}, False),
        ({"fc.weight": ((2, 2), "float32")}, False),
        ({"embeddings": ((5, 2), "float32"), "fc.weight": ((2, 2), "float32")}, False),
    ],
)
def test_what_counts_as_data(tensors, data):
    assert is_data(tensors) == data


def test_data_tensors_say_what_they_look_like_and_which_probe_field_they_fill():
    assert looks_like("tensor", (50, 16), "int64") == ("code indices", "codes")
    assert looks_like("tensor", (50, 8), "float32") == ("embeddings [N = 50, D = 8]", "embeddings")
    assert looks_like("x", (50, 1, 8, 8), "float32")[1] == "x"
    assert looks_like("hist", (512,), "int64") == ("a code histogram over 512 codes", None)
    message = data_message("emb.pt", {"tensor": ((50, 8), "float32")})
    assert message.startswith("emb.pt is data, not a model: tensor [50, 8] float32") and "--data" in message
    assert "cannot be diagnosed on its own" in data_message("s.pt", {"mean": ((3,), "float32")})
