"""The approval web page behind ``auth_url``: sign in as an org member, then approve or deny a code.

``/device``, the short address a person types instead of ``auth_url``, leads to the same page
without a code: sign in, type the code shown on the station, then approve.

For a device the approver also picks the printer the device is bound to (its current binding
preselected). Plain HTML forms with a CSRF token; the session lives in a random cookie.
"""

from __future__ import annotations

from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from station.emulator import pages
from station.emulator.auth import PairingError
from station.emulator.org import NotFound
from station.emulator.services import Services
from station.emulator.sessions import COOKIE, Session, SessionStore, csrf_ok

DEMO_PASSWORD = "demo"  # noqa: S105 - the documented password of the seeded demo org
SIGNIN_PATH = "/auth/signin/"
PAIRING_PATH = "/oauth/authorize/pairing/"
DEVICE_PATH = "/device"


def _safe_next(target: object) -> str:
    """Only paths on this server: an open redirect would be a phishing aid."""
    if not isinstance(target, str) or not target.startswith("/"):
        return PAIRING_PATH
    return PAIRING_PATH if target.startswith("//") or "\\" in target else target


def _with_cookie(answer: Response, session: Session) -> Response:
    answer.set_cookie(COOKIE, session.id, httponly=True, samesite="lax", path="/")
    answer.headers["Cache-Control"] = "no-store"
    return answer


class ApprovalPages:
    def __init__(self, services: Services) -> None:
        self.sessions = SessionStore()
        self.org = services.org
        self.auth = services.auth

    def routes(self) -> list[Route]:
        return [
            Route(SIGNIN_PATH, self.signin, methods=["GET", "POST"]),
            Route("/auth/signout/", self.signout, methods=["POST"]),
            Route(DEVICE_PATH, self.device, methods=["GET"]),
            Route(PAIRING_PATH, self.pairing_page, methods=["GET"]),
            Route(PAIRING_PATH, self.decide, methods=["POST"]),
            Route("/auth/static/style.css", self.stylesheet, methods=["GET"]),
        ]

    # -- rendering -----------------------------------------------------------------------

    def _session(self, request: Request) -> Session:
        return self.sessions.get_or_create(request.cookies.get(COOKIE))

    def _respond(self, session: Session, title: str, content: str, status: int = 200) -> Response:
        account = pages.fragment("account", email=session.email, csrf=session.csrf) if session.email else ""
        return _with_cookie(HTMLResponse(pages.page(title, content, account), status_code=status), session)

    def _result(
        self, session: Session, heading: str, message: str, *, ok: bool, status: int = 200
    ) -> Response:
        kind = "approved" if ok else "denied"
        content = pages.fragment("result", heading=heading, message=message, kind=kind)
        return self._respond(session, heading, content, status)

    def _signin_page(
        self, session: Session, target: str, email: str = "", problem: str | None = None
    ) -> Response:
        members = self.org.users
        content = pages.fragment(
            "signin",
            csrf=session.csrf,
            next=target,
            email=email,
            member_list=", ".join(u.email for u in members),
            raw={
                "error": pages.error(problem),
                "members": "".join(pages.fragment("member_option", email=u.email) for u in members),
            },
        )
        return self._respond(session, "Sign in", content, 401 if problem else 200)

    def _printer_choices(self, bound: str | None) -> str:
        printers = self.org.printers
        chosen = bound or (printers[0].id if printers else None)
        choices = "".join(
            pages.fragment(
                "printer_choice",
                id=p.id,
                name=p.name if p.status == "Online" else f"{p.name} ({p.status.lower()})",
                location=p.location,
                raw={"checked": "checked" if p.id == chosen else ""},
            )
            for p in printers
        )
        return pages.fragment("printers", raw={"choices": choices})

    # -- routes --------------------------------------------------------------------------

    async def signin(self, request: Request) -> Response:
        session = self._session(request)
        if request.method == "GET":
            target = _safe_next(request.query_params.get("next"))
            if session.email is not None and "next" in request.query_params:
                return RedirectResponse(target, status_code=303)  # already signed in: on to the code
            return self._signin_page(session, target)
        form = await request.form()
        target = _safe_next(form.get("next"))
        if not csrf_ok(session, form.get("csrf")):
            return self._signin_page(session, target, problem="The form expired; please sign in again.")
        email = str(form.get("email", "")).strip()
        try:
            user = self.org.user_by_email(email)
        except NotFound:
            return self._signin_page(session, target, email, "Unknown email or wrong password.")
        if form.get("password") != DEMO_PASSWORD:
            return self._signin_page(session, target, email, "Unknown email or wrong password.")
        signed_in = self.sessions.sign_in(session, user.email)
        return _with_cookie(RedirectResponse(target, status_code=303), signed_in)

    async def signout(self, request: Request) -> Response:
        session = self._session(request)
        form = await request.form()
        if csrf_ok(session, form.get("csrf")):
            session = self.sessions.sign_in(session, None)
        return _with_cookie(RedirectResponse(SIGNIN_PATH, status_code=303), session)

    async def device(self, request: Request) -> Response:
        """The short address: on to the code entry (signing in first when needed)."""
        return RedirectResponse(PAIRING_PATH, status_code=303)

    async def pairing_page(self, request: Request) -> Response:
        session = self._session(request)
        if session.email is None:
            here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(f"{SIGNIN_PATH}?next={quote(here, safe='')}", status_code=303)
        code = request.query_params.get("pairing_code", "").strip()
        if not code:
            return self._respond(session, "Pair a device", pages.fragment("code_entry", raw={"error": ""}))
        try:
            info = self.auth.pairing_info(code)
        except PairingError:
            problem = pages.error(f"Unknown pairing code {code}.")
            return self._respond(
                session, "Pair a device", pages.fragment("code_entry", raw={"error": problem}), 404
            )
        if info.expired:
            return self._result(
                session, "Code expired", "Start pairing again on the device.", ok=False, status=410
            )
        if info.state != "pending":
            return self._result(
                session, "Already decided", f"This code was already {info.state}.", ok=False, status=409
            )
        if info.mode == "device":
            heading = "Pair a release station"
            explanation = "Approve to let this device release print jobs for your organisation."
            printers = self._printer_choices(info.bound_printer_id)
        else:
            heading = "Sign in on a device"
            explanation = "Approve to let the device confirm who you are (it keeps only your user id)."
            printers = ""
        content = pages.fragment(
            "pairing",
            heading=heading,
            code=info.code,
            explanation=explanation,
            csrf=session.csrf,
            raw={"printers": printers},
        )
        return self._respond(session, heading, content)

    async def decide(self, request: Request) -> Response:
        session = self._session(request)
        form = await request.form()
        if session.email is None:
            return RedirectResponse(SIGNIN_PATH, status_code=303)
        if not csrf_ok(session, form.get("csrf")):
            return self._result(
                session, "Form expired", "Reload the page and try again.", ok=False, status=403
            )
        code = str(form.get("pairing_code", ""))
        printer_id = str(form.get("printer_id") or "") or None
        decision = form.get("decision")
        try:
            if decision == "approve":
                self.auth.approve(code, email=session.email, printer_id=printer_id)
            elif decision == "deny":
                self.auth.deny(code)
            else:
                return self._result(
                    session, "Nothing decided", "Choose Approve or Deny.", ok=False, status=400
                )
        except (PairingError, NotFound) as exc:
            return self._result(session, "Not possible", str(exc), ok=False, status=409)
        if decision == "deny":
            return self._result(session, "Denied", "The device will not be paired.", ok=False)
        where = f" It releases jobs to {self.org.printer(printer_id).name}." if printer_id else ""
        return self._result(session, "Approved", f"The device continues on its own.{where}", ok=True)

    async def stylesheet(self, request: Request) -> Response:
        return Response(pages.stylesheet(), media_type="text/css")


def routes(services: Services) -> list[Route]:
    return ApprovalPages(services).routes()
