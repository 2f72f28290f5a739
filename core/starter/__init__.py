"""Fine-tuning starter bundles: a pure-python builder (no Django) and the bundle's template files.

The Django side calls `validate_target` on the untrusted request values, then `build_bundle` for the zip bytes
and `bundle_filename` for its name; `bundle_cache_key` names a build before it is made, for caching.
"""

from core.starter.builder import (
    BUILDER_VERSION,
    ENTRY_NAMES,
    STRATEGIES,
    BundleConfigError,
    ModelRecord,
    TargetConfig,
    build_bundle,
    bundle_cache_key,
    bundle_filename,
    layer_groups,
    validate_target,
)

__all__ = [
    "BUILDER_VERSION",
    "ENTRY_NAMES",
    "STRATEGIES",
    "BundleConfigError",
    "ModelRecord",
    "TargetConfig",
    "build_bundle",
    "bundle_cache_key",
    "bundle_filename",
    "layer_groups",
    "validate_target",
]
