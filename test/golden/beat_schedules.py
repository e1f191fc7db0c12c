"""Reference next-run times from Celery 5.2.6's own schedules, for src/beat/schedules/*.test.ts.

Run: /usr/bin/python3 test/golden/beat_schedules.py > test/golden/fixtures/beat-schedules.json
(solar needs python3-ephem, which Celery's solar imports.)
Crontab cases are in UTC: Celery's own DST handling is what Celeriac deliberately does better, and those cases are
written by hand in crontab.test.ts.
"""
import json
from datetime import datetime, timezone

from celery import Celery
from celery.schedules import crontab, solar

app = Celery('reference', set_as_current=False)
app.conf.timezone = 'UTC'

CRONTABS = [
    # minute, hour, day_of_week, day_of_month, month_of_year, last run (UTC)
    ('*/15', '*', '*', '*', '*', '2024-01-01T10:07:00'),
    ('0', '*/3', '*', '*', '*', '2024-01-01T10:00:00'),
    ('30', '22-2', '*', '*', '*', '2024-01-01T23:45:00'),
    ('30', '22-2', '*', '*', '*', '2024-01-02T02:30:00'),
    ('0', '9', 'mon-fri', '*', '*', '2024-01-05T09:00:00'),
    ('0', '0', '*', '31', '*', '2024-04-15T00:00:00'),
    ('0', '0', '*', '29', '2', '2024-03-01T00:00:00'),
    ('0', '12', '1', '1-7', '*', '2024-01-02T00:00:00'),
    ('1,13,30-45,50-59/2', '*', '*', '*', '*', '2024-01-01T10:46:00'),
    ('*', '*', '*', '*', '*', '2024-12-31T23:59:30'),
    ('0', '12', '*', '2-30/2', '*', '2024-02-28T12:00:00'),
    ('0', '0', 'sun', '*', '*', '2024-01-07T00:00:00'),
    ('0', '10', 'sat-sun', '*', '*', '2024-01-05T11:00:00'),
    ('0', '8-17/2', '*', '*', '*', '2024-01-01T12:00:00'),
    ('0', '8-17/2', '*', '*', '*', '2024-01-01T16:00:00'),
    ('5', '4', '*', '*', '*/3', '2024-02-10T00:00:00'),
    ('0', '0', '*', '1', '1', '2024-01-01T00:00:00'),
    ('0', '4', '*', '*', '*', '2024-01-01T03:59:59'),
    ('0', '4', '*', '*', '*', '2024-01-01T04:00:00'),
    ('*/10', '23', 'fri', '13', '*', '2024-01-01T00:00:00'),
    ('0', '0', '*', '30,31', '2', '2024-01-01T00:00:00'),
]

SOLAR = [
    ('sunrise', 48.8566, 2.3522, '2024-03-31T00:00:00'),
    ('sunset', 48.8566, 2.3522, '2024-06-21T00:00:00'),
    ('solar_noon', 48.8566, 2.3522, '2024-12-21T00:00:00'),
    ('dawn_civil', 40.7128, -74.006, '2024-11-03T00:00:00'),
    ('dusk_nautical', 40.7128, -74.006, '2024-07-04T12:00:00'),
    ('dawn_astronomical', -33.8688, 151.2093, '2024-01-15T00:00:00'),
    ('dawn_nautical', 35.6762, 139.6503, '2024-09-01T00:00:00'),
    ('dusk_civil', 64.1466, -21.9426, '2024-03-20T00:00:00'),
    ('sunset', -33.8688, 151.2093, '2024-01-15T00:00:00'),
    ('sunrise', 0, 0, '2024-06-01T10:00:00'),
    ('solar_noon', -22.9, -43.2, '2025-02-10T20:00:00'),
    ('sunrise', 60.17, 24.94, '2024-12-21T00:00:00'),
]


def utc(text):
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc)


def iso(dt):
    return dt.astimezone(timezone.utc).strftime('%Y-%m-%dT%H:%M:%S.%f')[:-3] + 'Z'


def crontab_next(fields, last):
    minute, hour, dow, dom, moy = fields
    try:
        c = crontab(minute, hour, dow, dom, moy, app=app, nowfun=lambda: last)
        start, delta, _now = c.remaining_delta(last)
        return iso(start + delta)
    except (RuntimeError, ValueError) as exc:
        return {'error': str(exc)}


def solar_next(event, lat, lon, last):
    s = solar(event, lat, lon, app=app, nowfun=lambda: last)
    return iso(last + s.remaining_estimate(last))


print(json.dumps({
    'crontab': [
        {'fields': list(case[:5]), 'last': iso(utc(case[5])), 'next': crontab_next(case[:5], utc(case[5]))}
        for case in CRONTABS
    ],
    'solar': [
        {'event': e, 'lat': lat, 'lon': lon, 'last': iso(utc(t)), 'next': solar_next(e, lat, lon, utc(t))}
        for e, lat, lon, t in SOLAR
    ],
}, indent=1))
