"""The API's JSON parser: every JSON request body is read through ``governance.api.json_input``
(``DEFAULT_PARSER_CLASSES``), so new endpoints get its rules without a line of their own."""

from __future__ import annotations

from rest_framework import exceptions, parsers

from governance.api import json_input


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser with the input rules of ``json_input``: a body nested too deeply or not
    JSON is a 400 ``parse_error``; a refused value is a 400 with a message on its path."""

    def parse(self, stream, media_type=None, parser_context=None):
        encoding = parsers.get_encoding(parser_context or {})
        raw = stream.read()
        try:
            text = raw.decode(encoding)
        except (UnicodeDecodeError, LookupError):
            raise exceptions.ParseError(f"JSON parse error - the body is not {encoding} text.") from None
        try:
            return json_input.loads(text)
        except json_input.RefusedValue as exc:
            raise exceptions.ValidationError({exc.path or "non_field_errors": [exc.message]}) from None
        except json_input.InvalidJSON as exc:
            raise exceptions.ParseError(f"JSON parse error - {exc}") from None


class MultiPartParser(parsers.MultiPartParser):
    """DRF's multipart parser; the form fields' text passes the same rules as JSON strings (a
    NUL in a field named ``team`` is a 400 on ``team``, not a 500 from the lookup)."""

    def parse(self, stream, media_type=None, parser_context=None):
        parsed = super().parse(stream, media_type, parser_context)
        for name, values in parsed.data.lists():
            for value in values:
                try:
                    json_input.check_values({name: value})
                except json_input.RefusedValue as exc:
                    raise exceptions.ValidationError({exc.path: [exc.message]}) from None
        return parsed
