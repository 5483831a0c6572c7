"""The shop's event types and the roles they play (`data.event_types`).

Each event type the events table may hold is declared with its roles:

- `search`: a search, whose `query` labels `query_category` by the click after it (one type);
- `impression`: an item shown, an example of the ranking tasks (one type);
- `click`, `purchase`: the events that label `ctr` and `cvr` when attributed to the
  impression before them (one type each); `click` also counts item popularity;
- `next_item`: the events whose item is a `next_item` target (one type);
- `behaviour`: the events that enter a user's history, each with its own event-type
  embedding (any number of types).

A type without roles is still a valid event (it may label a task of its own through
`tasks.<name>.event_type`). An event of a type with a role other than `search` needs an item.

    >>> roles = EventTypes.from_mapping({"search": ["search"], "impression": ["impression"],
    ...     "view": ["behaviour"], "click": ["click", "behaviour", "next_item"], "purchase": ["purchase"]})
    >>> roles.behaviour
    ('view', 'click')
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from mtrec_tf.errors import ConfigError

# Roles that exactly one event type plays, and the one that any number may.
SINGLE_ROLES: tuple[str, ...] = ("search", "impression", "click", "purchase", "next_item")
ROLES: tuple[str, ...] = SINGLE_ROLES + ("behaviour",)

DEFAULT_ROLES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("search", ("search",)),
    ("impression", ("impression",)),
    ("click", ("click", "behaviour", "next_item")),
    ("add_to_cart", ("behaviour",)),
    ("purchase", ("purchase", "behaviour")),
)


@dataclasses.dataclass(frozen=True)
class EventTypes:
    """The declared event types, in order, each with its roles (see the module docstring)."""

    roles: tuple[tuple[str, tuple[str, ...]], ...] = DEFAULT_ROLES

    def __post_init__(self) -> None:
        key = "data.event_types"
        for name, roles in self.roles:
            if not name or name != name.strip().lower():
                raise ConfigError(f"{key}: event type {name!r} must be non-empty lower-case text "
                                  "(the events' event_type is compared lower-cased)")
            unknown = sorted(set(roles) - set(ROLES))
            if unknown:
                raise ConfigError(f"{key}.{name}: unknown role {unknown[0]!r}; roles: {', '.join(ROLES)}")
            if "search" in roles and len(roles) > 1:
                raise ConfigError(f"{key}.{name}: a search has no item, so it plays no other role "
                                  f"(got {', '.join(roles)})")
        for role in SINGLE_ROLES:
            players = [name for name, roles in self.roles if role in roles]
            if len(players) != 1:
                raise ConfigError(f"{key}: exactly one event type plays the role {role!r}; "
                                  f"got {', '.join(players) if players else 'none'}")
        if not self.behaviour:
            raise ConfigError(f"{key}: at least one event type plays the role 'behaviour' (enters histories)")

    @classmethod
    def from_mapping(cls, values: Any, key: str = "data.event_types") -> EventTypes:
        """From `{type: [role, ...]}`; a type given null is left out (`--set data.event_types.add_to_cart=null`)."""
        if not isinstance(values, Mapping) or not values:
            raise ConfigError(f"{key} must be a mapping from event type to its list of roles, got {values!r}")
        roles = []
        for name, listed in values.items():
            if listed is None:
                continue
            if isinstance(listed, str):
                listed = [listed]
            if not isinstance(listed, (list, tuple)) or not all(isinstance(role, str) for role in listed):
                raise ConfigError(f"{key}.{name} must be a list of roles (any of {', '.join(ROLES)}), "
                                  f"got {listed!r}")
            roles.append((str(name), tuple(listed)))
        return cls(tuple(roles))

    def with_undeclared(self, found: Sequence[str]) -> EventTypes:
        """These types and, without roles, those of `found` that are not declared (to read a
        table whose types are not known yet, as `mtrec data inspect` does)."""
        extra = tuple((name, ()) for name in dict.fromkeys(found) if name not in self.names)
        return dataclasses.replace(self, roles=self.roles + extra)

    def roles_of(self, name: str) -> tuple[str, ...]:
        return dict(self.roles).get(name, ())

    def to_mapping(self) -> dict[str, list[str]]:
        return {name: list(roles) for name, roles in self.roles}

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.roles)

    @property
    def behaviour(self) -> tuple[str, ...]:
        """The types that enter histories, in declared order."""
        return self.playing("behaviour")

    def playing(self, role: str) -> tuple[str, ...]:
        return tuple(name for name, roles in self.roles if role in roles)

    def only(self, role: str) -> str:
        """The one type that plays a single role (`SINGLE_ROLES`)."""
        return self.playing(role)[0]

    @property
    def itemless(self) -> tuple[str, ...]:
        """The types whose events may have no item: the search, and types without a role."""
        return tuple(name for name, roles in self.roles if roles in ((), ("search",)))

    @property
    def search(self) -> str:
        return self.only("search")

    @property
    def impression(self) -> str:
        return self.only("impression")

    @property
    def click(self) -> str:
        return self.only("click")

    @property
    def purchase(self) -> str:
        return self.only("purchase")

    @property
    def next_item(self) -> str:
        return self.only("next_item")


DEFAULT_EVENT_TYPES = EventTypes()

# Words in an event type's name that suggest a role (`suggest_roles`), tried in order.
_ROLE_WORDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("search", ("search", "query")),
    ("impression", ("impression", "expos", "show", "display")),
    ("purchase", ("purchase", "buy", "order", "checkout", "pay")),
    ("click", ("click", "view", "detail", "visit")),
)


def suggest_roles(found: Sequence[str]) -> dict[str, list[str]]:
    """Roles for the event types `found` in a shop's data, read from their names: a type
    named like a search, an impression, a click or a purchase plays that role (the first
    such type; a click also is the next-item target), and every type but the search and
    the impression is behaviour. A role no name suggests is left unplayed, for the user
    to assign (the configuration then names it).

        >>> suggest_roles(["search", "impression", "click", "view", "favorite", "purchase"])["view"]
        ['behaviour']
    """
    names = list(dict.fromkeys(found))
    chosen: dict[str, str] = {}
    for role, words in _ROLE_WORDS:
        free = [n for n in names if n not in chosen.values()]
        exact = [n for n in free if n == role]
        matching = exact or [n for n in free if any(word in n for word in words)]
        if matching:
            chosen[role] = matching[0]
    roles: dict[str, list[str]] = {name: [] for name in names}
    for role, name in chosen.items():
        roles[name].append(role)
    for name in names:
        if name not in (chosen.get("search"), chosen.get("impression")):
            roles[name].append("behaviour")
    if "click" in chosen:
        roles[chosen["click"]].append("next_item")
    return roles
