"""Just enough OpenAPI 3 to call an operation by its operationId and to describe it as an LLM tool.

The region publishes its APIs with OpenAPI descriptions; reading the method, path and parameters from
the description (rather than hard-coding URLs) lets the same adapter follow a renamed path or a new
version. Only local ``#/components/...`` references are resolved: a description pointing elsewhere
is refused.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from voicebot.backoffice.models import BackofficeConfigError

METHODS = ("get", "put", "post", "delete", "patch", "head", "options")
_PATH_PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass(frozen=True)
class Parameter:
    """One parameter of an OpenAPI operation, as the adapter checks and sends it."""

    name: str
    location: str  # path | query | header
    required: bool
    schema: dict[str, Any]
    description: str = ""

    @property
    def argument(self) -> str:
        """The argument's name for callers and tools: 'X-Verification-Postcode' -> 'verification_postcode'."""
        return re.sub(r"^x_", "", re.sub(r"[^a-z0-9]+", "_", self.name.lower())).strip("_")

    def check(self, value: Any) -> str:
        """The value as sent on the wire, after checking it against the parameter's schema."""
        if not isinstance(value, (str, int)) or isinstance(value, bool):
            raise ValueError(f"{self.argument}: expected a string")
        text = str(value)
        s = self.schema
        if len(text) > int(s.get("maxLength", 200)) or len(text) < int(s.get("minLength", 0)):
            raise ValueError(f"{self.argument}: wrong length")
        if "pattern" in s and not re.search(s["pattern"], text):
            raise ValueError(f"{self.argument}: does not match {s['pattern']}")
        if "enum" in s and text not in s["enum"]:
            raise ValueError(f"{self.argument}: not one of {s['enum']}")
        if any(ord(c) < 32 for c in text):
            raise ValueError(f"{self.argument}: control character")
        return text


@dataclass(frozen=True)
class Operation:
    """One operation of the description, with its references resolved."""

    operation_id: str
    method: str
    path: str
    summary: str
    parameters: tuple[Parameter, ...]
    response_schema: dict[str, Any] = field(default_factory=dict)

    @property
    def idempotent(self) -> bool:
        return self.method in ("get", "head", "options")

    def tool_schema(self) -> dict[str, Any]:
        """The operation as an OpenAI chat-completions tool (function calling)."""
        props = {p.argument: _tool_property(p) for p in self.parameters}
        return {"type": "function", "function": {
            "name": self.operation_id,
            "description": self.summary,
            "parameters": {"type": "object", "properties": props,
                           "required": [p.argument for p in self.parameters if p.required],
                           "additionalProperties": False},
        }}


def _tool_property(p: Parameter) -> dict[str, Any]:
    """A parameter as a tool argument.

    The regex goes into the description, not the schema: some servers' grammar converters (llama.cpp's)
    reject it; arguments are checked against it here anyway.
    """
    prop = {k: v for k, v in p.schema.items() if k in ("type", "minLength", "maxLength", "enum")}
    text = " ".join(x for x in (p.description, f"(format {p.schema['pattern']})" if "pattern" in p.schema else "")
                    if x)
    return {**prop, **({"description": text} if text else {})}


def _resolve(spec: dict[str, Any], node: Any, depth: int = 0) -> Any:
    if depth > 20:
        raise BackofficeConfigError("OpenAPI references nest too deep")
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str):
            if not ref.startswith("#/"):
                raise BackofficeConfigError(f"external OpenAPI reference refused: {ref}")
            target: Any = spec
            for part in ref[2:].split("/"):
                if not isinstance(target, dict) or part not in target:
                    raise BackofficeConfigError(f"unresolvable OpenAPI reference: {ref}")
                target = target[part]
            return _resolve(spec, target, depth + 1)
        return {k: _resolve(spec, v, depth + 1) for k, v in node.items()}
    if isinstance(node, list):
        return [_resolve(spec, v, depth + 1) for v in node]
    return node


def find_operation(spec: Any, operation_id: str) -> Operation:
    """The operation named ``operation_id``; BackofficeConfigError if absent or not usable."""
    if not isinstance(spec, dict) or not str(spec.get("openapi", "")).startswith("3."):
        raise BackofficeConfigError("not an OpenAPI 3 description")
    paths = spec.get("paths")
    if not isinstance(paths, dict):
        raise BackofficeConfigError("OpenAPI description has no paths")
    for path, item in paths.items():
        if not isinstance(item, dict):
            continue
        for method in METHODS:
            op = item.get(method)
            if isinstance(op, dict) and op.get("operationId") == operation_id:
                return _operation(spec, path, method, item, op)
    raise BackofficeConfigError(f"operation {operation_id!r} not found in the OpenAPI description")


def _operation(spec: dict, path: str, method: str, item: dict, op: dict) -> Operation:
    raw = [*(item.get("parameters") or []), *(op.get("parameters") or [])]
    params: dict[tuple[str, str], Parameter] = {}
    for p in _resolve(spec, raw):
        loc = p.get("in")
        if loc not in ("path", "query", "header") or not isinstance(p.get("name"), str):
            raise BackofficeConfigError(f"unsupported parameter in {op.get('operationId')}: {p!r:.80}")
        params[(p["name"], loc)] = Parameter(p["name"], loc, bool(p.get("required") or loc == "path"),
                                             p.get("schema") or {"type": "string"}, p.get("description", ""))
    missing = set(_PATH_PARAM.findall(path)) - {n for n, loc in params if loc == "path"}
    if missing:
        raise BackofficeConfigError(f"path parameters without a description: {sorted(missing)}")
    ok = (op.get("responses") or {}).get("200") or {}
    schema = (((_resolve(spec, ok).get("content") or {}).get("application/json") or {}).get("schema")) or {}
    return Operation(op["operationId"], method, path, op.get("summary") or op.get("description") or "",
                     tuple(params.values()), schema)
