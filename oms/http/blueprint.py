"""The Blueprint every route module uses: flask-smorest's, with each request schema built
once.

Given a schema class, webargs builds an instance of it for every request it parses, and
marshmallow deep-copies every declared field (and each nested schema's) into it: on a
checkout, five schema instances a request. A schema holds no state of the request it
loads (marshmallow 4 has no context on the instance; `unknown` and `partial` are
arguments of `load`), so one instance per class serves every request.
"""

from __future__ import annotations

import functools
from typing import Any

import flask_smorest
import marshmallow
from webargs.flaskparser import FlaskParser


@functools.cache
def _instance(schema: type[marshmallow.Schema]) -> marshmallow.Schema:
    return schema()


class _OncePerClassParser(FlaskParser):
    def _get_schema(self, argmap: Any, req: Any) -> marshmallow.Schema:
        if isinstance(argmap, type) and issubclass(argmap, marshmallow.Schema):
            return _instance(argmap)
        return super()._get_schema(argmap, req)


class Blueprint(flask_smorest.Blueprint):
    ARGUMENTS_PARSER = _OncePerClassParser()
