"""The model page's option forms, generated from the core's schemas (hub/options.py) so they cannot drift."""

from core.run_config import RUN_CONFIG
from core.starter.options import BUNDLE_OPTIONS
from hub.options import options_form

StarterBundleForm = options_form(BUNDLE_OPTIONS, name="StarterBundleForm")
# The re-check form posts to evaluation's view, which reads it back with this same class.
RunConfigForm = options_form(RUN_CONFIG, name="RunConfigForm")
