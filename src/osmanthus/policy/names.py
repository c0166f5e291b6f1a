"""Names of a policy's departments, metrics and perks in a reader's language (the policy
carries a Chinese title beside each English one)."""

from __future__ import annotations

from dataclasses import dataclass

from osmanthus.policy.model import PolicyVersion

__all__ = ["Names"]


@dataclass(frozen=True)
class Names:
    """Names of departments, metrics and perks in the page's language (the policy carries
    a Chinese title beside each English one)."""

    departments: dict[str, str]
    metrics: dict[str, str]
    perks: dict[str, str]

    def dept(self, code: str) -> str:
        return self.departments.get(code, code)

    def metric(self, code: str, fallback: str = "") -> str:
        return self.metrics.get(code, fallback or code)

    def perk(self, code: str, fallback: str = "") -> str:
        return self.perks.get(code, fallback or code)

    @classmethod
    def of(cls, version: PolicyVersion, lang: str) -> Names:
        def pick(english: str, chinese: str | None) -> str:
            return chinese if lang == "zh" and chinese else english

        return cls(
            {c: pick(d.name, d.name_zh) for c, d in version.departments.items()},
            {c: pick(m.title, m.title_zh) for c, m in version.metrics.items()},
            {c: pick(p.title, p.title_zh) for c, p in version.perks.items()},
        )
