"""Which structured-output form a gateway and model take: found once, shared by every worker.

The forms, most to least enforced (`wire.STRUCTURED_FORMS`):

    json_schema         response_format {"type": "json_schema", "json_schema": {...}} (OpenAI)
    json_object_schema  response_format {"type": "json_object", "schema": {...}} (llama.cpp, vLLM)
    json_object         response_format {"type": "json_object"}, the schema in the prompt
    prompt              no response_format, the schema in the prompt only

A gateway refuses a form with an error that names `response_format` (at any status:
llama-cpp-python answers 500), with a 400/422 while the form is on trial, or by ignoring it (a
reply that is not JSON). Then the next form is tried, once per gateway and model rather than
once per record: while a form is on trial one call holds the trial and the others wait for its
outcome. The form that answered is remembered in this process and in the store, so every
worker (and every later job) starts from it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Literal

from datagems_core.clock import now_iso
from datagems_core.errors import InferenceRejected
from datagems_core.inference.redaction import redact_url
from datagems_core.inference.wire import STRUCTURED_FORMS, StructuredForm
from datagems_core.store.base import KVStore

logger = logging.getLogger("datagems.inference")

STORE_HKEY = "datagems:structured-output"
FORCING_SETTING = "DATAGEMS_STRUCTURED_OUTPUT"
# Forms confirmed in this process, by gateway key: a new client starts from them without a read.
_confirmed: dict[str, StructuredForm] = {}


def gateway_key(base_url: str, model: str | None) -> str:
    """The field a gateway and model are remembered under (the URL without credentials)."""
    return f"{redact_url(base_url)} {model or '-'}"


def forget_confirmed_forms() -> None:
    """Drop this process' memory of forms (the store keeps its own)."""
    _confirmed.clear()


@dataclass(frozen=True, slots=True)
class Turn:
    """One call's form, and whether the call is the trial of that form."""

    form: StructuredForm
    is_trial: bool


class Negotiation:
    """The structured-output form of one gateway and model, as one client sees it.

    negotiation = Negotiation(base_url=url, model="m", store=store)
    async with negotiation.turn() as turn:
        reply = await send(template.render(messages, turn.form))
    """

    def __init__(
        self,
        *,
        base_url: str,
        model: str | None,
        store: KVStore | None = None,
        forced: StructuredForm | None = None,
    ) -> None:
        self.key = gateway_key(base_url, model)
        self.store = store
        self.forced = forced
        self.form: StructuredForm = forced or _confirmed.get(self.key, STRUCTURED_FORMS[0])
        self.is_confirmed = forced is not None or self.key in _confirmed
        self._is_loaded = self.is_confirmed
        self._lock = asyncio.Lock()

    @property
    def confirmed_form(self) -> StructuredForm | None:
        """The form a gateway has answered in (or the forced one); None until then."""
        return self.form if self.is_confirmed else None

    @asynccontextmanager
    async def turn(self) -> AsyncIterator[Turn]:
        """The form to send now. While no form is confirmed, one call at a time holds the trial
        and the others wait here for its outcome."""
        if not self.is_confirmed:
            async with self._lock:
                if not self._is_loaded:
                    await self._load()
                if not self.is_confirmed:
                    yield Turn(self.form, is_trial=True)
                    return
        # Confirmed, perhaps while this call waited: no lock held, calls run side by side.
        yield Turn(self.form, is_trial=False)

    async def confirm(self, turn: Turn) -> None:
        """The gateway answered in `turn.form`: remember it here and in the store."""
        if self.is_confirmed or turn.form != self.form:
            return
        self.is_confirmed = True
        _confirmed[self.key] = turn.form
        if self.store is not None:
            await self.store.hset(
                STORE_HKEY, self.key, {"form": turn.form, "confirmedAt": now_iso()}
            )
        logger.info("gateway %s takes structured output as %s", self.key, turn.form)

    def refuse(self, turn: Turn, reason: str) -> None:
        """The gateway refused `turn.form`: move on to the next form, once for all callers.

        Raises InferenceRejected when the form was forced, or when no form is left.
        """
        if self.forced is not None:
            raise InferenceRejected(
                f"the gateway ({self.key}) refused structured output as {turn.form}, "
                f"which {FORCING_SETTING} forces: {reason}"
            )
        if turn.form != self.form:
            return  # a call sent in the same form already moved on
        position = STRUCTURED_FORMS.index(turn.form)
        if position + 1 == len(STRUCTURED_FORMS):
            raise InferenceRejected(
                f"the gateway ({self.key}) refused every form of structured output: {reason}"
            )
        self.form = STRUCTURED_FORMS[position + 1]
        self.is_confirmed = False
        _confirmed.pop(self.key, None)
        logger.info(
            "gateway %s refused structured output as %s (%s); trying %s",
            self.key,
            turn.form,
            reason[:200],
            self.form,
        )

    def is_ignored(self, turn: Turn) -> bool:
        """A reply on trial that is not JSON ignored its form: True when the next form is due."""
        if not turn.is_trial or self.forced is not None or turn.form == STRUCTURED_FORMS[-1]:
            return False
        self.refuse(turn, "the reply was not JSON")
        return True

    async def _load(self) -> None:
        self._is_loaded = True
        if self.store is None:
            return
        stored = await self.store.hget(STORE_HKEY, self.key)
        form = stored.get("form") if isinstance(stored, dict) else None
        if form in STRUCTURED_FORMS:
            self.form = form
            self.is_confirmed = True
            _confirmed[self.key] = self.form


def forced_form(setting: StructuredForm | Literal["auto"]) -> StructuredForm | None:
    """The form `DATAGEMS_STRUCTURED_OUTPUT` forces, or None for "auto"."""
    return None if setting == "auto" else setting
