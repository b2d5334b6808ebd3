"""Load benchmark client: seed a registry, drive it as 20 panel members, check the outcome.

    DATABASE_URL=... python -m tests.benchmarks.loadclient seed --applications 10000 --members 20 --out creds.json
    python -m tests.benchmarks.loadclient run --url http://127.0.0.1:PORT --creds creds.json --seconds 60 --out r.json
    DATABASE_URL=... python -m tests.benchmarks.loadclient check --results r.json

`run` needs no Django: an asyncio httpx client per member, each in a closed loop browsing the
queue page (logged-in, two-factor-verified session) and voting through the API (token).
"""

import argparse
import asyncio
import json
import os
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PHARMACISTS = 6


def _django():
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()


# --- seed ----------------------------------------------------------------------------------------

def seed(applications: int, members: int, out: Path):
    _django()
    import datetime as dt

    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore
    from django.db import transaction
    from django.utils import timezone
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice
    from rest_framework.authtoken.models import Token

    from accounts.models import User
    from accounts.roles import Role
    from cases import models as cm
    from panel.models import ApplicationStatus, MemberRole, OOSApplication, PanelMember

    started = time.perf_counter()
    now = timezone.now()
    product = cm.Product.objects.order_by("pk").first()
    with transaction.atomic():
        centres = [cm.Centre.objects.get_or_create(code=f"ld{i:02d}", defaults={"name": f"Load centre {i}"})[0]
                   for i in range(10)]
        submitter = User.objects.create_user("load.centre", password=None, role=Role.CENTRE_USER, centre=centres[0])
        patients = cm.Patient.objects.bulk_create(
            cm.Patient(centre=centres[i % 10], local_id=f"L{i:06d}", sex="F" if i % 2 else "M",
                       birth_year=1950 + i % 40, weight_kg=70.0) for i in range(applications))
        cases = cm.Case.objects.bulk_create(
            cm.Case(public_id=f"LD-{i:06d}", patient=p, centre=p.centre, product=product, indication="LBCL",
                    diagnosis="dlbcl", approval_date=dt.date(2024, 1, 1), ecog=1, prior_lines=2)
            for i, p in enumerate(patients))
        aphereses = cm.Apheresis.objects.bulk_create(
            cm.Apheresis(case=c, number=1, date=dt.date(2024, 1, 10)) for c in cases)
        attempts = cm.ManufacturingAttempt.objects.bulk_create(
            cm.ManufacturingAttempt(apheresis=a, case=a.case, number=1, shipped_on=dt.date(2024, 1, 11),
                                    result_on=dt.date(2024, 2, 1), outcome=cm.AttemptOutcome.OOS,
                                    viable_car_t_dose=1.5e8) for a in aphereses)
        OOSApplication.objects.bulk_create(
            (OOSApplication(attempt=t, case=t.case, centre=t.case.centre, submitted_by=submitter,
                            status=ApplicationStatus.UNDER_REVIEW, clinical_justification="Load test",
                            submitted_at=now - dt.timedelta(minutes=i), sla_due_at=now + dt.timedelta(days=5))
             for i, t in enumerate(attempts)), batch_size=2000)
        creds = []
        for i in range(members):
            pharmacist = i < PHARMACISTS
            user = User.objects.create_user(f"load.member{i:02d}", password=None,
                                            role=Role.PANEL_PHARMACIST if pharmacist else Role.PANEL_PHYSICIAN)
            PanelMember.objects.create(user=user, role=MemberRole.PHARMACIST if pharmacist else MemberRole.PHYSICIAN,
                                       active_from=dt.date(2020, 1, 1))
            token = Token.objects.create(user=user)
            device = TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=True)
            # A session as the login + two-factor steps leave it (verified), valid for the run.
            session = SessionStore()
            session[SESSION_KEY] = str(user.pk)
            session[BACKEND_SESSION_KEY] = settings.AUTHENTICATION_BACKENDS[-1]
            session[HASH_SESSION_KEY] = user.get_session_auth_hash()
            session[DEVICE_ID_SESSION_KEY] = device.persistent_id
            session.set_expiry(3600)
            session.create()
            creds.append({"username": user.username, "token": token.key, "session": session.session_key})
    # Planner statistics, as a live database has them (autovacuum would run this later).
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    ids = list(OOSApplication.objects.order_by("pk").values_list("pk", flat=True))
    out.write_text(json.dumps({"members": creds, "applications": ids}), encoding="utf-8")
    print(f"Seeded {len(ids)} applications under review and {members} panel members "
          f"in {time.perf_counter() - started:.1f} s")


# --- run -----------------------------------------------------------------------------------------

async def _member(client, member, applications, deadline, samples, rng, think, measure_from):
    import httpx

    cookies = {"Cookie": f"sessionid={member['session']}", "X-Forwarded-Proto": "https"}
    api = {"Authorization": f"Token {member['token']}", "X-Forwarded-Proto": "https"}
    # Members work down the same list from nearby starting points: many vote on the same
    # applications at the same time, which is where a lost or doubled vote would show.
    order = applications[rng.randrange(0, 50):]
    # Members arrive over the first pause, as people do, not all in the same millisecond.
    await asyncio.sleep(rng.uniform(0, think))
    for application_id in order:
        if time.monotonic() >= deadline:
            return
        for endpoint, call in (
            ("queue page", lambda: client.get("/panel/queue/", headers=cookies)),
            ("vote POST", lambda a=application_id: client.post(
                f"/api/v1/applications/{a}/votes/", headers=api,
                json={"choice": rng.choices(["approve", "decline", "abstain"], weights=[80, 10, 10])[0]})),
        ):
            measured = time.monotonic() >= measure_from  # timed if it starts after the warm-up
            started = time.perf_counter()
            try:
                response = await call()
                status = response.status_code
                # 409: the application was decided by the other members' votes meanwhile (expected).
                ok = status == 200 if endpoint == "queue page" else status in (201, 409)
            except httpx.HTTPError as exc:
                status, ok = type(exc).__name__, False
            samples.append((endpoint, (time.perf_counter() - started) * 1000, status, ok,
                            member["username"], application_id, measured))
            # A member reads the page before the next click; 0 makes every member a closed loop
            # that measures the server's saturation instead of people using it.
            if think:
                await asyncio.sleep(rng.uniform(0.5 * think, 1.5 * think))


async def _run(url, creds, seconds, seed_value, think, warmup):
    import httpx

    rng = random.Random(seed_value)
    samples = []
    # The first ``warmup`` seconds run the same way but are not timed: each worker's first requests open
    # its database connection and fill its caches, which says nothing about the system in service.
    measure_from = time.monotonic() + warmup
    deadline = measure_from + seconds
    limits = httpx.Limits(max_connections=len(creds["members"]) * 2)
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as client:
        await asyncio.gather(*(
            _member(client, member, creds["applications"], deadline, samples, random.Random(rng.random()), think,
                    measure_from)
            for member in creds["members"]))
    return samples


def _percentile(values, q):
    ordered = sorted(values)
    if not ordered:
        return None
    index = min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


def summarise(samples, seconds):
    report = {}
    for endpoint in sorted({s[0] for s in samples}):
        rows = [s for s in samples if s[0] == endpoint]
        times = [s[1] for s in rows]
        statuses = {}
        for s in rows:
            statuses[str(s[2])] = statuses.get(str(s[2]), 0) + 1
        report[endpoint] = {
            "requests": len(rows), "per_second": round(len(rows) / seconds, 1),
            "p50_ms": round(_percentile(times, 50), 1), "p95_ms": round(_percentile(times, 95), 1),
            "p99_ms": round(_percentile(times, 99), 1), "max_ms": round(max(times), 1),
            "errors": sum(1 for s in rows if not s[3]), "statuses": statuses,
        }
    return report


def run(url, creds_path: Path, seconds: float, out: Path, seed_value: int, think: float = 0.0,
        warmup: float = 0.0):
    creds = json.loads(creds_path.read_text(encoding="utf-8"))
    samples = asyncio.run(_run(url, creds, seconds, seed_value, think, warmup))
    # Latencies of the measured window only; the result check covers every vote, warm-up included.
    created = [(s[4], s[5]) for s in samples if s[0] == "vote POST" and s[2] == 201]
    measured = [s for s in samples if s[6]]
    out.write_text(json.dumps({"seconds": seconds, "warmup_seconds": warmup, "summary": summarise(measured, seconds),
                               "created": created}), encoding="utf-8")


# --- check ---------------------------------------------------------------------------------------

def check(results_path: Path):
    """Every 201 is one stored vote (no more, no fewer, no duplicates); one decision per decided
    application, and the votes on every application agree with the status it ended in."""
    _django()
    from django.db.models import Count

    from panel import rules
    from panel.models import ApplicationStatus, Decision, OOSApplication, PanelMember, Vote

    results = json.loads(results_path.read_text(encoding="utf-8"))
    created = {tuple(pair) for pair in results["created"]}
    stored = set(Vote.objects.filter(member__user__username__startswith="load.member")
                 .values_list("member__user__username", "application_id"))
    duplicates = (Vote.objects.values("application_id", "member_id").annotate(n=Count("id")).filter(n__gt=1).count())
    decided_statuses = [ApplicationStatus.APPROVED, ApplicationStatus.DECLINED]
    decided = OOSApplication.objects.filter(status__in=decided_statuses)
    decisions = Decision.objects.count()
    per_application = Decision.objects.values("application_id").annotate(n=Count("id")).filter(n__gt=1).count()
    without_decision = decided.filter(decision__isnull=True).count()
    # Re-apply the pure rule to the stored votes: an open application must still be pending.
    eligible = list(PanelMember.objects.filter(user__username__startswith="load.member").values_list("pk", "role"))
    votes_by_app = {}
    for application_id, member_id, choice in Vote.objects.values_list("application_id", "member_id", "choice"):
        votes_by_app.setdefault(application_id, {})[member_id] = choice
    open_but_decidable = sum(
        1 for application_id in OOSApplication.objects.filter(status=ApplicationStatus.UNDER_REVIEW,
                                                              pk__in=votes_by_app).values_list("pk", flat=True)
        if rules.decide(eligible, votes_by_app[application_id]) != rules.Outcome.PENDING)
    outcome = {
        "votes_201": len(created), "votes_stored": len(stored), "missing_votes": len(created - stored),
        "unexpected_votes": len(stored - created), "duplicate_votes": duplicates,
        "applications_voted": len(votes_by_app), "applications_decided": decided.count(), "decisions": decisions,
        "decided_without_decision": without_decision, "applications_with_two_decisions": per_application,
        "open_but_rule_met": open_but_decidable,
    }
    outcome["ok"] = (outcome["missing_votes"] == outcome["unexpected_votes"] == duplicates == 0
                     and decisions == outcome["applications_decided"] and without_decision == 0
                     and per_application == 0 and open_but_decidable == 0)
    print(json.dumps(outcome))
    return outcome


def main(argv=None):
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("seed")
    p.add_argument("--applications", type=int, default=10_000)
    p.add_argument("--members", type=int, default=20)
    p.add_argument("--out", type=Path, required=True)
    p = sub.add_parser("run")
    p.add_argument("--url", required=True)
    p.add_argument("--creds", type=Path, required=True)
    p.add_argument("--seconds", type=float, default=60)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--think", type=float, default=0.0, help="mean seconds a member pauses between requests")
    p.add_argument("--warmup", type=float, default=0.0, help="seconds run before timing starts")
    p.add_argument("--out", type=Path, required=True)
    p = sub.add_parser("check")
    p.add_argument("--results", type=Path, required=True)
    options = parser.parse_args(argv)
    if options.command == "seed":
        seed(options.applications, options.members, options.out)
    elif options.command == "run":
        run(options.url, options.creds, options.seconds, options.out, options.seed, options.think, options.warmup)
    else:
        check(options.results)


if __name__ == "__main__":
    main()
