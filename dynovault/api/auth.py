"""Request authentication: AWS Signature Version 4, refused the way DynamoDB refuses it.

Two modes:

- Without credentials (the default, like DynamoDB Local) a request needs a well-formed
  SigV4 ``Authorization`` header and a date, but any key id and any signature pass, so every
  SDK works unchanged with whatever credentials it happens to find. A request without an
  ``Authorization`` header is refused with ``MissingAuthenticationTokenException``, as
  DynamoDB and DynamoDB Local refuse it.
- With ``--credentials-file`` the signature is recomputed with botocore's own SigV4 code
  from the key's secret, and the request is refused with DynamoDB's error codes and wording
  when the key is unknown, the signature differs, the request date is more than five
  minutes away from the server's clock, the scope names another region, or a header that
  decides what the request does (``Host``, the date, ``X-Amz-Target``, any ``X-Amz-*``)
  is not covered by the signature. Repeated ``Authorization`` headers or parameters are
  refused rather than resolved, so no part of the stack reads a different claim than the
  one that was verified.

Only header-signed requests are understood (every AWS SDK signs DynamoDB calls that way);
a session token (``X-Amz-Security-Token``) is covered by the signature but not checked
against any issuer.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path

from aiohttp import web
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.compat import HTTPHeaders

from dynovault.api.server import Authenticator, error_response
from dynovault.errors import (
    DynamoError,
    IncompleteSignatureException,
    InvalidSignatureException,
    MissingAuthenticationTokenException,
    StartupError,
    UnrecognizedClientException,
)
from dynovault.signing import (
    PEER_KEY_ID,
    PEER_PROOF,
    PROOF_HEADER,
    SERVICE,
    TERMINATOR,
    load_credentials,
    proof,
    signing_key,
)

log = logging.getLogger(__name__)

ALGORITHM = "AWS4-HMAC-SHA256"
# DynamoDB refuses requests signed more than five minutes away from its clock.
ALLOWED_SKEW = timedelta(minutes=5)
AMZ_DATE_FORMAT = "%Y%m%dT%H%M%SZ"
_AMZ_DATE = re.compile(r"(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)Z")
# The Authorization header as every SDK writes it; parsed in full only when it differs.
_SDK_AUTHORIZATION = re.compile(
    r"AWS4-HMAC-SHA256 Credential=[^/,\s]+(?:/[^/,\s]+){4}, ?SignedHeaders=[^,\s]+, ?Signature=[0-9a-fA-F]+"
)
_REQUIRED_PARAMETERS = ("Credential", "Signature", "SignedHeaders")
# Headers whose repetition would let one part of the server read another value than the
# one the signature covers (botocore joins repeated values before signing).
_SINGLE_HEADERS = ("Authorization", "X-Amz-Date", "Date", "X-Amz-Target")

Clock = Callable[[], float]


@dataclass(frozen=True)
class SignedRequest:
    """What a request's ``Authorization`` header and date claim about its signature."""

    credential: str
    signed_headers: tuple[str, ...]
    signature: str
    amz_date: str
    signed_at: datetime

    @property
    def scope(self) -> list[str]:
        """``keyid/date/region/service/terminator`` split into its five parts."""
        return self.credential.split("/")


def parse_signed_request(request: web.Request) -> SignedRequest:
    """The request's SigV4 claims, or DynamoDB's refusal of a missing or malformed header."""
    _refuse_repeated_headers(request)
    authorization = request.headers.get("Authorization", "").strip()
    if not authorization.startswith("AWS4-"):
        raise MissingAuthenticationTokenException("Request is missing Authentication Token")
    algorithm, _, parameter_text = authorization.partition(" ")
    parameters = _parameters(parameter_text, authorization)
    date_header = request.headers.get("X-Amz-Date") or request.headers.get("Date")
    problems = [
        f"Authorization header requires '{name}' parameter. "
        for name in _REQUIRED_PARAMETERS
        if name not in parameters
    ]
    if not date_header:
        problems.append(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. "
        )
    if problems:
        raise IncompleteSignatureException("".join(problems) + f"Authorization={authorization}")
    signed_at = _request_time(date_header)
    if algorithm != ALGORITHM:
        raise IncompleteSignatureException(
            f"Unsupported AWS 'algorithm': '{algorithm}' (only {ALGORITHM} for now). "
        )
    credential = parameters["Credential"].rstrip("/")
    if len(credential.split("/")) != 5:
        raise IncompleteSignatureException(
            "Credential must have exactly 5 slash-delimited elements, "
            f"e.g. keyid/date/region/service/term, got '{credential}'"
        )
    return SignedRequest(
        credential=credential,
        signed_headers=tuple(name.strip().lower() for name in parameters["SignedHeaders"].split(";")),
        signature=parameters["Signature"],
        amz_date=_basic(signed_at),
        signed_at=signed_at,
    )


def _refuse_repeated_headers(request: web.Request) -> None:
    for name in _SINGLE_HEADERS:
        if len(request.headers.getall(name, ())) > 1:
            raise IncompleteSignatureException(f"The request must not carry more than one '{name}' header.")


def _parameters(text: str, authorization: str) -> dict[str, str]:
    parameters: dict[str, str] = {}
    for pair in filter(None, (part.strip() for part in text.split(","))):
        name, equals, value = pair.partition("=")
        if not equals:
            raise IncompleteSignatureException(
                f"'{pair}' not a valid key=value pair (missing equal-sign) "
                f"in Authorization header: '{authorization}'."
            )
        name = name.strip()
        if name in parameters:
            raise IncompleteSignatureException(
                f"'{name}' appears more than once in Authorization header: '{authorization}'."
            )
        parameters[name] = value.strip()
    return parameters


def _request_time(date_header: str) -> datetime:
    try:
        basic = _AMZ_DATE.fullmatch(date_header)
        if basic:
            return datetime(*map(int, basic.groups()), tzinfo=UTC)
        return parsedate_to_datetime(date_header).astimezone(UTC)
    except (TypeError, ValueError):
        raise IncompleteSignatureException(
            f"Date must be in ISO-8601 'basic format'. Got '{date_header}'. "
            "See http://en.wikipedia.org/wiki/ISO_8601"
        ) from None


class AnySignature:
    """Default mode: the request must look signed; who signed it is not checked, so the
    check runs where DynamoDB's order puts it, after the body was parsed. This runs on
    every request, so SDK-shaped headers pass on two pattern matches."""

    def check_headers(self, request: web.Request) -> None:
        return None

    def verify(self, request: web.Request, body: bytes, checked: None) -> None:
        headers = request.headers
        if _SDK_AUTHORIZATION.fullmatch(headers.get("Authorization", "")) and _AMZ_DATE.fullmatch(
            headers.get("X-Amz-Date", "")
        ):
            return
        parse_signed_request(request)


@dataclass(frozen=True)
class CheckedClaim:
    """A request's signature claim after every check that needs no body: what remains is
    recomputing the signature over the body."""

    claim: SignedRequest
    key_id: str
    region: str
    signing_key: bytes


class SignatureVerifier:
    """Verifies SigV4 signatures against a fixed set of access keys.

    ``regions`` are the regions a credential scope may name (the server's ``--region``);
    None accepts any. The checks that need no body (``check_headers``) are separate from
    the signature itself (``verify``), so a server can refuse a forged or stale request
    before it spends memory on the body."""

    def __init__(
        self, secrets: dict[str, str], clock: Clock = time.time, regions: frozenset[str] | None = None
    ) -> None:
        self.secrets = secrets
        self.clock = clock
        self.regions = regions

    def check_headers(self, request: web.Request) -> CheckedClaim:
        claim = parse_signed_request(request)
        self._check_time(claim)
        _check_signed_headers(request, claim)
        key_id, scope_date, region, service, terminator = claim.scope
        _check_scope(claim, scope_date, region, service, terminator, self.regions)
        secret = self.secrets.get(key_id)
        if secret is None:
            raise UnrecognizedClientException("The security token included in the request is invalid.")
        return CheckedClaim(claim, key_id, region, signing_key(secret, scope_date, region))

    def verify(self, request: web.Request, body: bytes, checked: CheckedClaim) -> str:
        """The key id that signed the request, or DynamoDB's refusal."""
        claim = checked.claim
        recomputation = _Recomputation(checked.region, _signed_header_values(request, claim), checked.signing_key)
        # The host comes from the signed headers; the URL only carries path and query.
        aws_request = AWSRequest(method=request.method, url=f"http://localhost{request.raw_path}", data=body)
        aws_request.context["timestamp"] = claim.amz_date
        canonical = recomputation.canonical_request(aws_request)
        string_to_sign = recomputation.string_to_sign(aws_request, canonical)
        expected = recomputation.signature(string_to_sign, aws_request)
        # Compared as bytes: compare_digest refuses str with non-ASCII characters.
        if not hmac.compare_digest(expected.encode(), claim.signature.encode()):
            raise InvalidSignatureException(
                "The request signature we calculated does not match the signature you provided. "
                "Check your AWS Secret Access Key and signing method. "
                "Consult the service documentation for details.\n\n"
                f"The Canonical String for this request should have been\n'{canonical}'\n\n"
                f"The String-to-Sign should have been\n'{string_to_sign}'\n"
            )
        return checked.key_id

    def _check_time(self, claim: SignedRequest) -> None:
        now = datetime.fromtimestamp(self.clock(), UTC)
        if claim.signed_at < now - ALLOWED_SKEW:
            raise InvalidSignatureException(
                f"Signature expired: {claim.amz_date} is now earlier than "
                f"{_basic(now - ALLOWED_SKEW)} ({_basic(now)} - 5 min.)"
            )
        if claim.signed_at > now + ALLOWED_SKEW:
            raise InvalidSignatureException(
                f"Signature not yet current: {claim.amz_date} is still later than "
                f"{_basic(now + ALLOWED_SKEW)} ({_basic(now)} + 5 min.)"
            )


def _check_signed_headers(request: web.Request, claim: SignedRequest) -> None:
    """What the request does must be what was signed: the host, the date the signature is
    dated by, the operation and every other ``X-Amz-*`` header."""
    signed = set(claim.signed_headers)
    if "host" not in signed:
        raise InvalidSignatureException("'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.")
    date_header = "x-amz-date" if "X-Amz-Date" in request.headers else "date"
    sent = {name.lower(): name for name in request.headers if name.lower().startswith("x-amz-")}
    sent.setdefault(date_header, "X-Amz-Date" if date_header == "x-amz-date" else "Date")
    for lower in sorted(sent):
        if lower not in signed:
            raise InvalidSignatureException(
                f"'{_display_name(lower)}' must be a 'SignedHeader' in the AWS Authorization."
            )


def _display_name(lower: str) -> str:
    return "-".join(part.capitalize() for part in lower.split("-"))


def _basic(moment: datetime) -> str:
    return moment.strftime(AMZ_DATE_FORMAT)


def _check_scope(
    claim: SignedRequest, scope_date: str, region: str, service: str, terminator: str,
    regions: frozenset[str] | None,
) -> None:
    problems = []
    if regions is not None and region not in regions:
        problems.append(f"Credential should be scoped to a valid region, not '{region}'. ")
    if service != SERVICE:
        problems.append(f"Credential should be scoped to correct service: '{SERVICE}'. ")
    if terminator != TERMINATOR:
        problems.append(
            f"Credential should be scoped with a valid terminator: '{TERMINATOR}', not '{terminator}'. "
        )
    if scope_date != claim.amz_date[:8]:
        problems.append(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: "
            f"'{scope_date}' != '{claim.amz_date[:8]}', from '{claim.amz_date}'."
        )
    if problems:
        raise InvalidSignatureException("".join(problems).strip())


def _signed_header_values(request: web.Request, claim: SignedRequest) -> HTTPHeaders:
    headers = HTTPHeaders()
    for name in claim.signed_headers:
        for value in request.headers.getall(name, ()):
            headers[name] = value
    return headers


class _Recomputation(SigV4Auth):
    """botocore's SigV4 signer, fed exactly the headers the client says it signed and a
    cached signing key, so the canonical request is built by the same code that signs."""

    def __init__(self, region: str, signed_headers: HTTPHeaders, signing_key: bytes) -> None:
        super().__init__(credentials=None, service_name=SERVICE, region_name=region)
        self._signed_headers = signed_headers
        self._signing_key = signing_key

    def headers_to_sign(self, request: AWSRequest) -> HTTPHeaders:
        return self._signed_headers

    def signature(self, string_to_sign: str, request: AWSRequest) -> str:
        return hmac.new(self._signing_key, string_to_sign.encode(), hashlib.sha256).hexdigest()


def authenticator_for(credentials_file: Path | None, regions: frozenset[str] | None = None) -> Authenticator:
    """The check ``dynovault serve`` runs before every request; ``regions`` are the
    regions a verified credential scope may name (None: any)."""
    if credentials_file is None:
        log.info("authentication: any well-formed SigV4 signature is accepted (no credentials file)")
        return AnySignature()
    try:
        secrets = load_credentials(credentials_file)
    except (OSError, ValueError) as error:
        raise StartupError(f"credentials file: {error}") from None
    log.info(
        "authentication: SigV4 signatures verified", extra={"keys": len(secrets), "file": str(credentials_file)}
    )
    return SignatureVerifier(secrets, regions=regions)


def require_signatures_on(app: web.Application, verifier: SignatureVerifier, open_paths: frozenset[str]) -> None:
    """Install ``require_signatures`` and the proof its answers carry."""
    app.middlewares.append(require_signatures(verifier, open_paths))
    app.on_response_prepare.append(send_peer_proof)


def require_signatures(verifier: SignatureVerifier, open_paths: frozenset[str]) -> web.Middleware:
    """Every route but the DynamoDB endpoint (which checks signatures itself, in DynamoDB's
    order) and ``open_paths`` answers only SigV4-signed requests. The headers are checked
    before the body is read; the signer's key id and the proof its answer carries are kept
    on the request, and the proof is sent as a header of whatever the route answers."""

    @web.middleware
    async def signed_only(request: web.Request, handler):
        if request.path in open_paths or (request.path == "/" and request.method == "POST"):
            return await handler(request)
        try:
            checked = verifier.check_headers(request)
            verifier.verify(request, await request.read(), checked)
        except DynamoError as error:
            return error_response(error)
        request[PEER_KEY_ID] = checked.key_id
        request[PEER_PROOF] = proof(checked.signing_key, checked.claim.signature)
        return await handler(request)

    return signed_only


async def send_peer_proof(request: web.Request, response: web.StreamResponse) -> None:
    """``on_response_prepare`` hook: a verified request's answer proves this node holds
    the same credentials (WebSocket upgrades included, whose headers leave before any
    handler code could add them)."""
    answer_proof = request.get(PEER_PROOF)
    if answer_proof is not None:
        response.headers[PROOF_HEADER] = answer_proof
