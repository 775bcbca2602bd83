"""Conversions between the plain Python values host handlers use and psrpcore's CLIXML object model.

Outgoing (`to_ps`): str/int/bool/float/None/bytes/list/dict/`PSObj`/`Hashtable`/`SecureString` become the objects a
Windows PowerShell 5.1 server would send: int → Int32 (Int64 when it does not fit), float → Double, list → Object[],
dict → PSCustomObject with note properties (the shape of `[pscustomobject]@{...}`), `Hashtable` → Hashtable.

Incoming (`from_ps`): what pypsrp serializes (parameters, arguments, pipeline input) becomes plain Python:
PSString → str, Int32/Int64 → int, Hashtable → dict, Object[] → list, SecureString → `SecureString`, and any other
object with properties → `PSObj`.
"""

from __future__ import annotations

import datetime
import enum
import uuid
from typing import Any

from psrpcore.types import (
    PSByteArray,
    PSDict,
    PSDouble,
    PSInt,
    PSInt64,
    PSList,
    PSObject,
    PSSecureString,
    add_note_property,
)

from .dispatch import Hashtable, PSObj, SecureString

_OBJECT_ARRAY = ["System.Object[]", "System.Array", "System.Object"]
_PSCUSTOMOBJECT = ["System.Management.Automation.PSCustomObject", "System.Object"]


class _Null:
    """Serializes as `<Nil />`. psrpcore sends a bare None output as an empty message, which pypsrp cannot parse;
    PowerShell itself sends `<Nil />`."""

    @classmethod
    def ToPSObjectForRemoting(cls, value: object, **kwargs: Any) -> None:
        return None


NULL_OUTPUT = _Null()


def custom_object_string(props: dict[str, Any]) -> str:
    """What `"$obj"` shows for a PSCustomObject: `@{Name=x; Count=3}`."""
    def fmt(v: Any) -> str:
        if v is None:
            return ""
        if isinstance(v, bool):
            return "True" if v else "False"
        if isinstance(v, (list, tuple)):
            return " ".join(fmt(x) for x in v)
        if isinstance(v, dict):
            return "System.Collections.Hashtable" if isinstance(v, Hashtable) else custom_object_string(v)
        return str(v)

    return "@{" + "; ".join(f"{k}={fmt(v)}" for k, v in props.items()) + "}"


def to_ps(value: Any) -> Any:
    """The psrpcore object that serializes `value` the way PowerShell would send it."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, PSObject):  # already a psrpcore object (e.g. a handler built one by hand)
        return value
    if isinstance(value, enum.Enum):
        return to_ps(value.value)
    if isinstance(value, int):
        return PSInt(value) if -(2**31) <= value < 2**31 else PSInt64(value)
    if isinstance(value, float):
        return PSDouble(value)
    if isinstance(value, (bytes, bytearray)):
        return PSByteArray(bytes(value))
    if isinstance(value, (datetime.datetime, uuid.UUID)):
        return value
    if isinstance(value, SecureString):
        return PSSecureString(value.value)
    if isinstance(value, (list, tuple, set, frozenset)):
        lst = PSList([to_ps(v) for v in value])
        lst.PSObject.type_names = list(_OBJECT_ARRAY)
        return lst
    if isinstance(value, Hashtable):
        return PSDict({to_ps(k): to_ps(v) for k, v in value.items()})
    if isinstance(value, dict):
        return _ps_object(_PSCUSTOMOBJECT, value, custom_object_string(value))
    if isinstance(value, PSObj):
        return _ps_object(value.type_names or _PSCUSTOMOBJECT, value.properties,
                          value.to_string if value.to_string is not None else custom_object_string(value.properties))
    return str(value)


def _ps_object(type_names: list[str], props: dict[str, Any], to_string: str | None) -> PSObject:
    obj = PSObject()
    # Every .NET type derives from System.Object; pypsrp cannot deserialize a type list that does not end in it.
    obj.PSObject.type_names = list(type_names) + ([] if "System.Object" in type_names else ["System.Object"])
    for name, v in props.items():
        add_note_property(obj, str(name), to_ps(v))
    if to_string is not None:
        obj.PSObject.to_string = to_string
    return obj


def from_ps(value: Any) -> Any:
    """The plain Python value for an object deserialized by psrpcore from what the client sent."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, PSSecureString):
        return SecureString(value.decrypt())
    if isinstance(value, str):
        return str(value)
    if isinstance(value, enum.Enum):
        return int(value.value) if isinstance(value.value, int) else value.value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    if isinstance(value, dict):  # PSDict (Hashtable, Dictionary)
        return {from_ps(k): from_ps(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):  # PSList, Object[] and other collections
        return [from_ps(v) for v in value]
    if isinstance(value, (datetime.datetime, uuid.UUID)):
        return value
    if isinstance(value, PSObject):
        meta = value.PSObject
        props = {}
        for prop in list(meta.adapted_properties) + list(meta.extended_properties):
            props[prop.name] = from_ps(prop.get_value(value))
        return PSObj(type_names=list(meta.type_names), properties=props, to_string=meta.to_string)
    return value
