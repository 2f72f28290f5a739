"""JSON bodies held to the types their OpenAPI schema documents.

DRF's fields are lenient on purpose (forms send text): an IntegerField takes "5" and 5.0, a FloatField "1.5",
a BooleanField "yes" and 1, a CharField 123. A JSON body has real types, and the schema drf-spectacular
publishes says `integer`, `number`, `boolean`, `string`: a client that sends "1.5" for a number is wrong and
is told so, rather than silently coerced (schemathesis' negative_data_rejection check holds the API to it).

The views of JSON-only operations call `refuse_loose_types` before their serializer runs; the checks are on the
JSON value's type only (bounds, lengths and choices stay with the serializer and the services).
"""

from typing import Any

from rest_framework import exceptions, serializers

from hub.options import OptionsDictField

_JSON_TYPE_NAMES = {
    "string": "a JSON string",
    "integer": "a JSON integer",
    "number": "a JSON number",
    "boolean": "true or false",
    "array": "a JSON array",
    "object": "a JSON object",
}


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


_TYPE_CHECKS = {
    "string": lambda value: isinstance(value, str),
    "integer": lambda value: isinstance(value, int) and not isinstance(value, bool),
    "number": _is_number,
    "boolean": lambda value: isinstance(value, bool),
    "array": lambda value: isinstance(value, list),
    "object": lambda value: isinstance(value, dict),
}

# An option's kind (core/options.py) -> the JSON types its schema allows (a list option: text or an array).
_OPTION_TYPES = {
    "int": ("integer",),
    "float": ("number",),
    "bool": ("boolean",),
    "choice": ("string",),
    "str": ("string",),
    "list": ("string", "array"),
}


def _field_types(field: serializers.Field) -> tuple[str, ...] | None:
    """The JSON types a field's documented schema allows; None when any value is (a JSONField, an untyped
    DictField value)."""
    option = getattr(field, "option", None)
    if option is not None:
        return _OPTION_TYPES[option.kind]
    if isinstance(field, serializers.BooleanField):
        return ("boolean",)
    if isinstance(field, serializers.IntegerField):
        return ("integer",)
    if isinstance(field, serializers.FloatField | serializers.DecimalField):
        return ("number",)
    if isinstance(field, serializers.CharField | serializers.ChoiceField):  # every API choice is a string
        return ("string",)
    if isinstance(field, serializers.ListField | serializers.ListSerializer):
        return ("array",)
    if isinstance(field, serializers.DictField | serializers.Serializer):
        return ("object",)
    return None


def _problems(field: serializers.Field, value: Any) -> list[str] | dict | None:
    """The field's error in DRF's own shape (messages, or a dict by key or list index for nested values)."""
    if value is None and field.allow_null:
        return None
    types = _field_types(field)
    if types is None:
        return None
    if not any(_TYPE_CHECKS[name](value) for name in types):
        expected = " or ".join(_JSON_TYPE_NAMES[name] for name in types)
        return [f"Must be {expected}, not {type(value).__name__} {str(value)[:40]!r}."]
    if isinstance(field, serializers.ListField) and isinstance(value, list):
        items = {index: _problems(field.child, item) for index, item in enumerate(value)}
        return {index: problem for index, problem in items.items() if problem} or None
    if isinstance(field, serializers.Serializer) and isinstance(value, dict):
        return _object_problems(field.fields, value) or None
    return None


# An option's own words for a value of the wrong type (core/options.py says the same to the CLI and forms).
_OPTION_MESSAGES = {
    "int": "must be an integer",
    "float": "must be a number",
    "bool": "must be true or false",
    "choice": "must be a string",
    "str": "must be a string",
    "list": "must be a list of strings",
}


def _option_problems(field: OptionsDictField, options: dict) -> dict[str, list[str]]:
    """Options of the wrong JSON type, keyed by the option itself: the service names a bad option so (not the
    enclosing `config`), and so does this."""
    found = {}
    for name, option_field in field.options_serializer().fields.items():
        value = options.get(name)
        if value is None:
            continue
        if not any(_TYPE_CHECKS[kind](value) for kind in _OPTION_TYPES[option_field.option.kind]):
            found[name] = [_OPTION_MESSAGES[option_field.option.kind]]
    return found


def _object_problems(fields: dict[str, serializers.Field], data: dict) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for name, field in fields.items():
        if name not in data or field.read_only:
            continue
        if isinstance(field, OptionsDictField) and isinstance(data[name], dict):
            found.update(_option_problems(field, data[name]))
        elif problem := _problems(field, data[name]):
            found[name] = problem
    return found


def refuse_loose_types(serializer_class: type[serializers.Serializer], data: Any) -> None:
    """Raise a ValidationError (400, the API's error shape) naming every field of a JSON body whose value is not
    of its documented JSON type; a body that is not an object is left to the serializer's own message."""
    if not isinstance(data, dict):
        return
    found = _object_problems(serializer_class().fields, data)
    if found:
        raise exceptions.ValidationError(found)
