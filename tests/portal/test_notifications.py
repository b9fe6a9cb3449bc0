"""Notifications: shown in the portal, mailed from the outbox by a background thread (never by the request), retried,
never sent twice; the mail goes over SMTP to a local server speaking the protocol."""

from __future__ import annotations

import email
import email.policy
import socket
import threading
import time

from django.core import mail
from django.db import connection
from django.test import TransactionTestCase, override_settings

from studio_portal.community.models import Thread
from studio_portal.notifications import outbox
from studio_portal.notifications.models import Notification
from studio_portal.notifications.services import notify
from tests.portal.base import CatalogTestCase, make_catalog


class HeldSMTP:
    """An SMTP server on 127.0.0.1 that says nothing until ``release()``: a mail server that hangs. Messages it
    receives afterwards are kept in ``messages``."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.released = threading.Event()
        self.connected = threading.Event()
        self.messages: list[str] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def release(self):
        self.released.set()

    def close(self):
        self.released.set()
        self.sock.close()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._session, args=(conn,), daemon=True).start()

    def _session(self, conn: socket.socket):
        self.connected.set()
        self.released.wait(30)
        f = conn.makefile("rwb")

        def say(line: str):
            f.write(line.encode() + b"\r\n")
            f.flush()

        say("220 held.test ESMTP")
        with conn, f:
            while line := f.readline():
                verb = line.decode().strip().split(" ", 1)[0].upper()
                if verb in ("EHLO", "HELO"):
                    say("250 held.test")
                elif verb in ("MAIL", "RCPT", "RSET", "NOOP"):
                    say("250 OK")
                elif verb == "DATA":
                    say("354 go ahead")
                    data = b""
                    while (chunk := f.readline()) not in (b".\r\n", b""):
                        data += chunk
                    self.messages.append(data.decode())
                    say("250 queued")
                elif verb == "QUIT":
                    say("221 bye")
                    return
                else:
                    say("502 not here")


class BrokenBackend:
    """An email backend whose server refuses every message."""

    def __init__(self, *args, **kwargs):
        pass

    def open(self):
        pass

    def close(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        pass

    def send_messages(self, messages):
        raise ConnectionRefusedError("550 no thanks")


class OutboxTests(CatalogTestCase):
    def test_pending_mail_is_sent_once_and_people_without_email_are_skipped(self):
        self.student.email, nobody = "s1@example.org", self.outsider
        nobody.email = ""
        nobody.save()
        with self.captureOnCommitCallbacks(execute=False) as callbacks:
            notify(users=[self.student, nobody, self.student], kind="mention", text="grader1 mentioned you", url="/x/")
        assert len(callbacks) == 1  # the outbox is woken after the commit, not now
        assert Notification.objects.count() == 2
        assert outbox.send_pending() == (1, 0)
        assert outbox.send_pending() == (0, 0)
        assert len(mail.outbox) == 1
        msg = mail.outbox[0]
        assert msg.to == ["s1@example.org"] and msg.subject == "[Learning Studio] grader1 mentioned you"
        assert "http://127.0.0.1:8001/x/" in msg.body
        states = dict(Notification.objects.values_list("user__username", "email"))
        assert states == {"student1": "sent", "student3": "none"}

    @override_settings(EMAIL_BACKEND="tests.portal.test_notifications.BrokenBackend")
    def test_a_refusing_server_is_retried_then_given_up_and_the_portal_still_shows_it(self):
        notify(users=[self.student], kind="reply", text="a reply")
        for attempt in range(1, outbox.MAX_ATTEMPTS + 1):
            assert outbox.send_pending() == (1, 1)
            n = Notification.objects.get()
            assert n.email_attempts == attempt
        assert n.email == "failed" and outbox.send_pending() == (0, 0)
        self.client.force_login(self.student)
        page = self.client.get("/notifications/").content.decode()
        assert "a reply" in page and "1 new" in page

    def test_the_notifications_page_and_marking_read(self):
        notify(users=[self.student], kind="reply", text="first", url="/courses/intro-python/forum/")
        notify(users=[self.student], kind="answer", text="second <b>bold</b>")
        notify(users=[self.grader], kind="reply", text="not yours")
        self.client.force_login(self.student)
        page = self.client.get("/notifications/").content.decode()
        assert (
            "2 new" in page and "first" in page and "second &lt;b&gt;bold&lt;/b&gt;" in page and "not yours" not in page
        )
        first = Notification.objects.get(text="first")
        self.client.post("/notifications/read/", {"id": [str(first.pk)]})
        assert list(Notification.objects.filter(user=self.student, read=False).values_list("text", flat=True)) == [
            "second <b>bold</b>"
        ]
        self.client.post("/notifications/read/")
        assert not Notification.objects.filter(user=self.student, read=False).exists()
        assert Notification.objects.get(user=self.grader).read is False
        assert "new</span>" not in self.client.get("/notifications/").content.decode()
        self.client.logout()
        assert self.client.get("/notifications/").status_code == 302


class OffTheRequestPathTests(TransactionTestCase):
    """A reply that mentions someone returns at once while the mail server hangs; the mail goes out later."""

    def setUp(self):
        self.people = make_catalog()
        self.smtp = HeldSMTP()
        self.addCleanup(self.smtp.close)

    def test_a_hanging_mail_server_does_not_hold_up_the_reply(self):
        student, grader = self.people["student"], self.people["grader"]
        with override_settings(
            EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
            EMAIL_HOST="127.0.0.1",
            EMAIL_PORT=self.smtp.port,
            EMAIL_USE_TLS=False,
            EMAIL_TIMEOUT=30,
        ):
            self.client.force_login(student)
            resp = self.client.post("/courses/intro-python/forum/new/", {"title": "Stuck", "body": "Help @grader1"})
            assert resp.status_code == 302
            assert self.smtp.connected.wait(10), "the outbox never connected to the mail server"
            # The page came back while the mail server had not said a word.
            assert not self.smtp.released.is_set() and self.smtp.messages == []
            assert Notification.objects.get(user=grader).email == "pending"
            self.smtp.release()
            for _ in range(100):
                if Notification.objects.get(user=grader).email == "sent":
                    break
                time.sleep(0.1)
        assert Notification.objects.get(user=grader).email == "sent"
        assert len(self.smtp.messages) == 1
        message = email.message_from_string(self.smtp.messages[0], policy=email.policy.default)
        assert message["Subject"].strip() == "[Learning Studio] student1 mentioned you in “Stuck”"
        assert message["To"] == "g1@example.org"
        assert "/courses/intro-python/forum/" in message.get_content()
        assert Thread.objects.count() == 1


class SlowBackend(BrokenBackend):
    """Takes a while per message, and records every message it was given."""

    sent: list[str] = []

    def send_messages(self, messages):
        time.sleep(0.02)
        SlowBackend.sent.extend(m.to[0] for m in messages)
        return len(messages)


class ConcurrentOutboxTests(TransactionTestCase):
    def setUp(self):
        if connection.vendor != "postgresql":
            self.skipTest("rows are claimed with SKIP LOCKED: PostgreSQL")

    def test_several_senders_at_once_never_send_a_mail_twice(self):
        people = make_catalog()
        users = [people["student"], people["grader"], people["instructor"], people["outsider"]]
        SlowBackend.sent = []
        with override_settings(EMAIL_BACKEND="tests.portal.test_notifications.SlowBackend"):
            for n in range(15):  # each wakes this process's outbox thread: a fourth sender
                notify(users=users, kind="reply", text=f"reply {n}")
            workers = [threading.Thread(target=self._drain) for _ in range(3)]
            for w in workers:
                w.start()
            for w in workers:
                w.join(60)
            for _ in range(100):
                if not Notification.objects.filter(email="pending").exists():
                    break
                time.sleep(0.1)
        assert len(SlowBackend.sent) == 60
        assert set(Notification.objects.values_list("email", flat=True)) == {"sent"}

    @staticmethod
    def _drain():
        try:
            while outbox.send_pending(limit=5)[0]:
                pass
        finally:
            connection.close()
