"""Django faces of a core option Schema (core/options.py): DRF serializer fields and Django form fields.

Generated, never written by hand, so the API, its OpenAPI schema and the page forms show the bounds, choices,
defaults and help of the one schema. The generated fields validate through the schema itself (same values
accepted, same messages); the views still hand the raw values to the service, which validates with the same
schema, so a refusal names the option the same way on every entry point. Imports no app: schemas come in as
arguments.
"""

from typing import Any

from django import forms
from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from rest_framework import serializers

from core.options import Option, OptionError, Schema

# --- DRF -------------------------------------------------------------------------------------------------


class OptionSerializerField:
    """Mixin for a DRF field made from an option: the option parses and checks the value, with the schema's own
    message; blank and null mean "not given" (the default), as in the schema."""

    def __init__(self, *, option: Option, **kwargs: Any) -> None:
        self.option = option  # also a constructor argument, so DRF's per-serializer deep copy keeps it
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> Any:
        try:
            return self.option.clean(data)
        except OptionError as error:
            raise serializers.ValidationError(error.message) from None


class OptionIntegerField(OptionSerializerField, serializers.IntegerField):
    pass


class OptionFloatField(OptionSerializerField, serializers.FloatField):
    pass


class OptionBooleanField(OptionSerializerField, serializers.BooleanField):
    pass


class OptionChoiceField(OptionSerializerField, serializers.ChoiceField):
    pass


class OptionCharField(OptionSerializerField, serializers.CharField):
    pass


def serializer_field(option: Option) -> serializers.Field:
    """A DRF field for one option: optional, with the default and help text carried over."""
    common: dict[str, Any] = {
        "option": option,
        "required": False,
        "allow_null": True,
        "help_text": option.help,
    }
    if option.default is not None:
        common["default"] = option.default
    if option.kind in ("int", "float"):
        field_class = OptionIntegerField if option.kind == "int" else OptionFloatField
        return field_class(**common)  # the bounds: the option checks them, OptionFieldSchema documents them
    if option.kind == "bool":
        return OptionBooleanField(**common)
    if option.kind == "choice":
        return OptionChoiceField(choices=list(option.choices), allow_blank=True, **common)
    return OptionCharField(allow_blank=True, **common)


def _openapi_extras(option: Option) -> dict[str, Any]:
    """What DRF's own field classes cannot tell drf-spectacular about an option (None: leave the key out)."""
    if option.kind in ("int", "float"):
        bounds = {"minimum": option.minimum, "maximum": option.maximum}
        # OpenAPI 3.0: a flag beside minimum (DRF's min_value cannot say it, so the bounds are all set here)
        return {**bounds, "exclusiveMinimum": True if option.exclusive_minimum else None}
    if option.kind == "str" and option.pattern:
        return {"pattern": f"^(?:{option.pattern})$"}
    if option.kind == "list":
        # A JSON body may send a list; a query string or a form sends the comma-separated text.
        return {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}], "type": None}
    return {}


class OptionFieldSchema(OpenApiSerializerFieldExtension):
    """drf-spectacular: an option's field as DRF maps it, plus the bounds and shapes only the option knows."""

    target_class = OptionSerializerField
    match_subclasses = True

    def map_serializer_field(self, auto_schema: Any, direction: str) -> dict[str, Any]:
        schema = auto_schema._map_serializer_field(self.target, direction, bypass_extensions=True)
        merged = {**schema, **_openapi_extras(self.target.option)}
        return {key: value for key, value in merged.items() if value is not None}


def options_serializer(schema: Schema, *, name: str, doc: str = "") -> type[serializers.Serializer]:
    """A Serializer class with one generated field per option, in the schema's order."""
    fields = {option.name: serializer_field(option) for option in schema}
    return type(name, (serializers.Serializer,), {**fields, "__doc__": doc or f"The {schema.name} options."})


class OptionsDictField(serializers.DictField):
    """An object of options passed through as given, documented in OpenAPI as `options_serializer`'s class.

    The service validates it with the schema, so a refusal names the option itself ("batch_size"), not the
    enclosing field, in the API's error shape.
    """

    def __init__(self, *, options_serializer: type[serializers.Serializer], **kwargs: Any) -> None:
        self.options_serializer = options_serializer
        super().__init__(**{"required": False, "default": dict, **kwargs})


class OptionsDictFieldSchema(OpenApiSerializerFieldExtension):
    target_class = OptionsDictField

    def map_serializer_field(self, auto_schema: Any, direction: str) -> dict[str, Any]:
        return auto_schema.resolve_serializer(self.target.options_serializer, direction).ref


# --- Django forms ----------------------------------------------------------------------------------------


class OptionFormField(forms.Field):
    """A form field for one option: the option parses and checks the submitted text."""

    def __init__(self, *, option: Option, **kwargs: Any) -> None:
        self.option = option
        super().__init__(required=False, label=option.title, help_text=option.help, **kwargs)

    def to_python(self, value: Any) -> Any:
        try:
            return self.option.clean(value)
        except OptionError as error:
            raise forms.ValidationError(error.message) from None


def _html_number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _number_attrs(option: Option) -> dict[str, Any]:
    # An exclusive minimum cannot be said in HTML: the browser lets it through and the server refuses it.
    attrs: dict[str, Any] = {"step": "1" if option.kind == "int" else "any"}
    if option.minimum is not None:
        attrs["min"] = _html_number(option.minimum)
    if option.maximum is not None:
        attrs["max"] = _html_number(option.maximum)
    return attrs


def _widget(option: Option) -> forms.Widget:
    """Plain HTML controls whose attributes carry the bounds: the form works without JavaScript."""
    if option.kind in ("int", "float"):
        return forms.NumberInput(attrs=_number_attrs(option))
    if option.kind == "choice":
        blank = [] if option.default is not None else [("", "default")]
        return forms.Select(choices=[*blank, *((choice, choice) for choice in option.choices)])
    if option.kind == "bool":
        return forms.Select(choices=[("", "default"), ("true", "yes"), ("false", "no")])
    attrs = {"pattern": option.pattern} if option.kind == "str" and option.pattern else {}
    return forms.TextInput(attrs=attrs)


def form_field(option: Option) -> OptionFormField:
    initial = option.default
    if option.kind == "bool" and initial is not None:
        initial = "true" if initial else "false"
    return OptionFormField(option=option, widget=_widget(option), initial=initial)


class OptionsForm(forms.Form):
    """A form generated from a schema; `given()` is what the view hands to the service to validate."""

    schema: Schema

    def given(self) -> dict[str, Any]:
        """The submitted options that are not blank (the others take the schema's defaults)."""
        return {name: self.data[name] for name in self.schema.names if str(self.data.get(name, "")).strip()}

    def refuse(self, field: str, message: str) -> None:
        """Show a refusal from the service beside its field (or above the form for a non-option field)."""
        if field in self.errors:  # the field's own check already said it
            return
        if field in self.fields:
            self.add_error(field, message)
        else:
            self.add_error(None, f"{field}: {message}")

    def basic_fields(self) -> list[forms.BoundField]:
        return [self[option.name] for option in self.schema if not option.advanced]

    def advanced_fields(self) -> list[forms.BoundField]:
        return [self[option.name] for option in self.schema if option.advanced]


def options_form(schema: Schema, *, name: str) -> type[OptionsForm]:
    """A Form class with one generated field per option, in the schema's order."""
    fields = {option.name: form_field(option) for option in schema}
    return type(name, (OptionsForm,), {**fields, "schema": schema})
