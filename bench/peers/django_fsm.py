"""django-fsm-2 + django-fsm-log: Django ORM models defined here, Django configured in code.

Each action, in ``transaction.atomic()``: the case with ``select_for_update()``, the mandate guard
(one ``exists()``), then the note, the ``@transition`` (stage check and target by django-fsm;
django-fsm-log's ``StateLog`` row written by its post-transition signal) and ``save()`` with
the changed fields. ``StateLog`` has no column for a hash: its ``description`` carries the hash
and the event's canonical JSON, so the ``StateLog`` row is the audit row (five statements).

Django is configured once a process with one database alias per backend
(``sqlite``, ``postgresql``), whose name is set before the first connection of each run; a
router sends every model to the alias being measured.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from typing import Any

import django
from django.conf import settings
from sqlalchemy.engine import make_url

from bench.peers import (
    ACTIVE,
    NOTE,
    RESUME,
    SUSPEND,
    Refused,
    Seed,
    System,
    check_actor,
    event_body,
    link,
    stamp,
)
from bench.peers.sql import actor_community

ALIASES = ("sqlite", "postgresql")
CURRENT = {"alias": "sqlite"}


class Router:
    def db_for_read(self, model: Any, **hints: Any) -> str:
        return CURRENT["alias"]

    def db_for_write(self, model: Any, **hints: Any) -> str:
        return CURRENT["alias"]

    def allow_relation(self, *args: Any, **hints: Any) -> bool:
        return True


if not settings.configured:
    settings.configure(
        DEBUG=False,
        USE_TZ=True,
        TIME_ZONE="UTC",
        INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth", "django_fsm_log"],
        DATABASES={
            "default": {},
            "sqlite": {
                "ENGINE": "django.db.backends.sqlite3",
                "NAME": ":memory:",
                "OPTIONS": {
                    "transaction_mode": "IMMEDIATE",
                    "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; "
                    "PRAGMA foreign_keys=ON;",
                },
            },
            "postgresql": {"ENGINE": "django.db.backends.postgresql", "NAME": "postgres"},
        },
        DATABASE_ROUTERS=[f"{__name__}.Router"],
        DEFAULT_AUTO_FIELD="django.db.models.AutoField",
    )
    django.setup()

from django.contrib.auth.models import Group, Permission, User  # noqa: E402
from django.contrib.contenttypes.models import ContentType  # noqa: E402
from django.db import connections, models, transaction  # noqa: E402
from django.db.models import Q  # noqa: E402
from django.utils import timezone  # noqa: E402
from django_fsm import GET_STATE, FSMField, transition  # noqa: E402
from django_fsm_log.decorators import fsm_log_description  # noqa: E402
from django_fsm_log.models import StateLog  # noqa: E402

APP = "b7_peers"


class Community(models.Model):
    name = models.CharField(max_length=80)

    class Meta:
        app_label, db_table = APP, "communities"


class Representative(models.Model):
    community = models.ForeignKey(Community, on_delete=models.PROTECT)
    name = models.CharField(max_length=120)

    class Meta:
        app_label, db_table = APP, "representatives"


class Mandate(models.Model):
    representative = models.ForeignKey(Representative, on_delete=models.PROTECT)
    valid_from = models.DateField()
    valid_until = models.DateField()
    confirmed_at = models.DateTimeField(null=True)
    revoked_on = models.DateField(null=True)

    class Meta:
        app_label, db_table = APP, "mandates"


def _suspended_from(instance: Case, *args: Any, **kwargs: Any) -> str | None:
    return instance.suspended_from


class Case(models.Model):
    community = models.ForeignKey(Community, on_delete=models.PROTECT)
    stage = FSMField(default=ACTIVE[0], protected=False)
    suspended_from = models.CharField(max_length=32, null=True)
    version = models.IntegerField()
    trail_seq = models.IntegerField()
    trail_hash = models.CharField(max_length=64)
    updated_at = models.DateTimeField()

    class Meta:
        app_label, db_table = APP, "cases"

    @fsm_log_description
    @transition(field=stage, source=list(ACTIVE), target="suspended")
    def suspend_process(self, description: str | None = None) -> None:
        self.suspended_from = self.stage

    @fsm_log_description
    @transition(
        field=stage, source="suspended", target=GET_STATE(_suspended_from, states=list(ACTIVE))
    )
    def resume_process(self, description: str | None = None) -> None:
        """The target is read from ``suspended_from`` after this runs: the caller clears it."""


class Note(models.Model):
    case = models.ForeignKey(Case, on_delete=models.PROTECT)
    kind = models.CharField(max_length=40)
    text = models.TextField()
    suspended_from = models.CharField(max_length=32, null=True)
    recorded_at = models.DateTimeField()
    recorded_by = models.CharField(max_length=80)

    class Meta:
        app_label, db_table = APP, "case_notes"


MODELS = (
    ContentType, Permission, Group, User, StateLog, Community, Representative, Mandate, Case, Note,
)  # fmt: skip


def _aware(row: dict[str, Any]) -> dict[str, Any]:
    """The seed's naive UTC times as Django wants them with USE_TZ; no SpiffWorkflow column."""
    return {
        k: v.replace(tzinfo=UTC) if isinstance(v, datetime) else v
        for k, v in row.items()
        if k != "workflow"
    }


def _use(url: str) -> str:
    """Point the alias of ``url``'s backend at its database (before it connects) and route to it."""
    parsed = make_url(url)
    alias = "sqlite" if parsed.get_backend_name() == "sqlite" else "postgresql"
    connection = connections[alias]
    connection.close()
    connection.settings_dict["NAME"] = parsed.database
    if alias == "postgresql":
        connection.settings_dict.update(
            HOST=parsed.host or "", PORT=str(parsed.port or ""), USER=parsed.username or "",
            PASSWORD=parsed.password or "",
        )  # fmt: skip
    CURRENT["alias"] = alias
    return alias


class DjangoFsm(System):
    key, label, kind = "django", "django-fsm-2 + django-fsm-log (Django ORM)", "orm"

    def __init__(self, url: str, seed: Seed) -> None:
        super().__init__()
        self.alias = _use(url)
        with connections[self.alias].schema_editor() as editor:
            for model in MODELS:
                editor.create_model(model)
        db = self.alias
        Community.objects.using(db).bulk_create(Community(**_aware(r)) for r in seed.communities)
        Representative.objects.using(db).bulk_create(
            Representative(**_aware(r)) for r in seed.representatives
        )
        Mandate.objects.using(db).bulk_create(Mandate(**_aware(r)) for r in seed.mandates)
        Case.objects.using(db).bulk_create(Case(**_aware(r)) for r in seed.cases)
        if self.alias == "postgresql":  # bulk_create gave the ids: the sequences follow
            with connections[db].cursor() as cursor:
                for table in ("communities", "representatives", "mandates", "cases"):
                    cursor.execute(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                        f"(SELECT MAX(id) FROM {table}))"
                    )
        self.actors = seed.actors
        self.case_ids = [row["id"] for row in seed.cases]

    def act(self, case_id: int, trigger: str) -> None:
        CURRENT["alias"] = self.alias
        actor = self.actors[actor_community(case_id)]
        today = date.today()
        with transaction.atomic(using=self.alias):
            case = Case.objects.select_for_update().get(pk=case_id)
            check_actor(actor, case.community_id)
            mandated = (
                Mandate.objects.filter(
                    representative_id=actor.representative_id,
                    confirmed_at__isnull=False,
                    valid_from__lte=today,
                    valid_until__gte=today,
                )
                .filter(Q(revoked_on__isnull=True) | Q(revoked_on__gt=today))
                .exists()
            )
            if not mandated:
                raise Refused("no mandate in force")
            from_stage = case.stage
            now = timezone.now()
            note = Note.objects.create(
                case_id=case.id,
                kind=trigger,
                text=NOTE["text"],
                suspended_from=from_stage if trigger == SUSPEND else None,
                recorded_at=now,
                recorded_by=actor.username,
            )
            to_stage = "suspended" if trigger == SUSPEND else case.suspended_from
            assert to_stage is not None
            seq, version = case.trail_seq + 1, case.version + 1
            body = event_body(
                case.id, seq, stamp(now.replace(tzinfo=None)), actor, trigger, from_stage,
                to_stage, version, note.id,
            )  # fmt: skip
            text, digest = link(case.trail_hash, body)
            # the transition checks the source, moves the stage, and django-fsm-log writes the
            # StateLog row (the audit row) from its post-transition signal
            getattr(case, trigger)(description=f"{digest} {case.trail_hash} {text}")
            assert case.stage == to_stage
            if trigger == RESUME:
                case.suspended_from = None
            case.version, case.trail_seq, case.trail_hash, case.updated_at = (
                version, seq, digest, now,
            )  # fmt: skip
            case.save(
                update_fields=[
                    "stage", "suspended_from", "version", "trail_seq", "trail_hash", "updated_at",
                ]
            )  # fmt: skip

    @contextmanager
    def counted(self) -> Iterator[None]:
        def wrapper(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
            self.count(sql)
            return execute(sql, params, many, context)

        with connections[self.alias].execute_wrapper(wrapper):
            yield

    def close(self) -> None:
        connections[self.alias].close()
