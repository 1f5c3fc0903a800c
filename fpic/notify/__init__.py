"""E-mail notifications: a person's turn on a case, and deadlines coming.

- ``outbox``: the queue. An action that moves a case on queues its messages in its own
  transaction (all or nothing with the action); every row's state is in its times.
- ``reminders``: the deadlines coming within a few days, queued once each per person.
- ``mail``: what a message says, rendered when it is sent, in its recipient's language and
  time zone.
- ``sender``: the SMTP settings and the pass that sends what is due, at most once each.

``fpic notify`` (fpic/cli_notify.py) runs the last two, from cron or as a worker.
"""
