"""The base of every record DataGems keeps in the store: camelCase JSON, as the seed's records."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

from datagems_core.store.base import JSONValue


class StoredModel(BaseModel):
    """camelCase field names on the wire; unknown fields (from a newer writer) are ignored."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")

    def to_record(self) -> dict[str, JSONValue]:
        record: dict[str, JSONValue] = self.model_dump(by_alias=True, mode="json")
        return record
