"""Runs kombu's own restore of stale unacked messages once (QoS.restore_visible, as a starting Celery worker does)
and prints what is left in the unacked bookkeeping, as JSON. Configured like interop_app (INTEROP_* variables)."""
import json

from interop_app import PREFIX, app

with app.connection_for_write() as conn:
    channel = conn.default_channel
    channel.qos.restore_visible(num=channel.unacked_restore_limit)
    client = channel.client
    # HKEYS and ZRANGE are not among the commands kombu's prefixing client rewrites: name the keys in full.
    print(json.dumps({
        'unacked': sorted(k.decode() for k in client.hkeys(PREFIX + 'unacked')),
        'index': sorted(k.decode() for k in client.zrange(PREFIX + 'unacked_index', 0, -1)),
    }))
