"""registry.BUILTIN_FLAGS (read by the CLI without importing the targets) matches the target classes."""

from __future__ import annotations

from snncompile.targets.registry import BUILTIN_FLAGS, BUILTIN_TARGETS, flag_options, target_class


def test_builtin_flags_match_the_target_classes() -> None:
    for name in BUILTIN_TARGETS:
        cls = target_class(name)
        prefix, options = flag_options(name)
        if cls.flag_prefix is None:
            assert name not in BUILTIN_FLAGS and prefix is None
        else:
            assert (prefix, options) == (cls.flag_prefix, cls.options_type), name


def test_lazy_loihi_package_names_resolve() -> None:
    import snncompile.targets.loihi as loihi
    from snncompile.targets.loihi import LOIHI, LoihiOptions, LoihiTarget, simulate_loihi

    assert isinstance(LOIHI, LoihiTarget) and LOIHI.options == LoihiOptions() and callable(simulate_loihi)
    assert set(loihi.__all__) <= set(dir(loihi)) | set(loihi._LAZY)
