"""The model page's option forms, generated from the core's schemas (hub/options.py) so they cannot drift."""

from core.run_config import RUN_CONFIG
from core.starter.options import BUNDLE_OPTIONS, TEXT_BUNDLE_OPTIONS
from hub.options import options_form

StarterBundleForm = options_form(BUNDLE_OPTIONS, name="StarterBundleForm")
# Text models (domain nlp) get the text bundle, whose options differ (max_length, no image size or augmentation).
TextStarterBundleForm = options_form(TEXT_BUNDLE_OPTIONS, name="TextStarterBundleForm")
# The re-check form posts to evaluation's view, which reads it back with this same class.
RunConfigForm = options_form(RUN_CONFIG, name="RunConfigForm")
