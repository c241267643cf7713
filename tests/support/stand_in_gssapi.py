"""A stand-in ``gssapi`` module: just enough of SPNEGO's first token for sources whose real-KDC tests do not exist yet.

The YARN source is tested against a real MIT KDC in tests/compat/test_kerberos_yarn.py;
this stand-in remains for the Spark History Server source's header checks.
"""

from __future__ import annotations

import base64
import types
from typing import Any, Dict, List, Optional, Tuple


class FakeGssapi(types.ModuleType):
    """Just enough of the ``gssapi`` package for SPNEGO's first token; records every context."""

    def __init__(self, failure: Optional[Exception] = None) -> None:
        super().__init__("gssapi")
        self.contexts: List[Dict[str, Any]] = []
        fake = self

        class NameType:
            hostbased_service = "hostbased_service"

        class Name:
            def __init__(self, base: str, name_type: str) -> None:
                self.base, self.name_type = base, name_type

        class OID:
            @staticmethod
            def from_int_seq(sequence: str) -> Tuple[str, str]:
                return ("OID", sequence)

        class SecurityContext:
            def __init__(self, *, name: Name, usage: str, flags: Any = None, mech: Any = None) -> None:
                self.number = len(fake.contexts) + 1
                fake.contexts.append({"name": (name.base, name.name_type), "usage": usage, "mech": mech})

            def step(self, token: Optional[bytes] = None) -> bytes:
                if failure is not None:
                    raise failure
                assert token is None, "the first token is sent without a challenge"
                return f"spnego-token-{self.number}".encode()

        self.NameType, self.Name, self.OID, self.SecurityContext = NameType, Name, OID, SecurityContext


def negotiate(token: bytes) -> str:
    return "Negotiate " + base64.b64encode(token).decode()
