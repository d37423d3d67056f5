"""Credentials come from the environment only, and are never written anywhere.

A config file is copied into results, Snakemake's metadata and the workflow sources that a
Google Batch run uploads, and `--config` values travel on every remote job's command line; so
the config may hold no credential (omtx_hub.config rejects keys and URLs that look like one).
The MSA server's credentials are read from these variables by the job that needs them, the
MSA fetch (a local rule: it runs in the process that planned the run, on your machine), and
handed to Boltz's client (`boltz.main.compute_msa`) as arguments; they are never Snakemake
params (which Snakemake stores in .snakemake/metadata) and never registered as variables
for remote jobs (which the Google Batch plugin writes in clear into each job request).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

MSA_USERNAME_VARIABLE = "OMTX_MSA_USERNAME"
MSA_PASSWORD_VARIABLE = "OMTX_MSA_PASSWORD"
MSA_API_KEY_VARIABLE = "OMTX_MSA_API_KEY"
MSA_API_KEY_HEADER_VARIABLE = "OMTX_MSA_API_KEY_HEADER"
MSA_CREDENTIAL_VARIABLES = (
    MSA_USERNAME_VARIABLE,
    MSA_PASSWORD_VARIABLE,
    MSA_API_KEY_VARIABLE,
    MSA_API_KEY_HEADER_VARIABLE,
)
# The completion webhook's URL may carry a token (omtx_hub.notify).
NOTIFY_URL_VARIABLE = "OMTX_NOTIFY_URL"
# Variables whose values are secrets: never logged, never passed to remote jobs.
SECRET_VARIABLES = (MSA_PASSWORD_VARIABLE, MSA_API_KEY_VARIABLE, NOTIFY_URL_VARIABLE)
# Boltz's own default header for an API key (boltz.main.compute_msa).
DEFAULT_API_KEY_HEADER = "X-API-Key"
# A name that names a credential (as a word: `msa_api_key`, `token`, `private_key`): config
# keys (omtx_hub.config) and the fields of a credentials file (`credentials_file_kind`).
CREDENTIAL_KEY = re.compile(
    r"(?:^|[_.-])(?:password|passwd|secret|token|api[_-]?key|apikey|credentials?|auth|"
    r"authorization|access[_-]?key|private[_-]?key)(?:$|[_.-])",
    re.IGNORECASE,
)
# A PEM block of a private key (`-----BEGIN RSA PRIVATE KEY-----`, OpenSSH's, PKCS #8's).
_PRIVATE_KEY_BLOCK = re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY( BLOCK)?-----")
# The keys of a JSON object, and the names of INI, YAML or .env lines (`name = value`,
# `name: value`, at the start of a line holding no comma or tab, as no sheet's line does).
_JSON_KEY = re.compile(r'"([^"\\\n]{1,200})"\s*:')
_LINE_NAME = re.compile(r"^[ ]*([A-Za-z_][A-Za-z0-9_.-]*)[ ]*[:=][^,\t\n]*$", re.MULTILINE)
# RFC 7230 token characters: what an HTTP header name may be made of.
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


class CredentialError(ValueError):
    """Credentials set in a way that cannot work, or where they would be written out."""


@dataclass(frozen=True)
class MsaCredentials:
    """How to authenticate to the MSA server: an API key in a header, basic authentication,
    or nothing (the public ColabFold server). Secrets are left out of repr()."""

    username: str | None = None
    password: str | None = field(default=None, repr=False)
    api_key_header: str | None = None
    api_key: str | None = field(default=None, repr=False)

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> MsaCredentials:
        """The credentials in $OMTX_MSA_*; CredentialError for a combination Boltz's client
        would reject or silently ignore (an empty variable counts as unset)."""
        environ = os.environ if environ is None else environ
        values = {name: environ.get(name) or None for name in MSA_CREDENTIAL_VARIABLES}
        credentials = cls(
            username=values[MSA_USERNAME_VARIABLE],
            password=values[MSA_PASSWORD_VARIABLE],
            api_key_header=values[MSA_API_KEY_HEADER_VARIABLE],
            api_key=values[MSA_API_KEY_VARIABLE],
        )
        basic = credentials.username is not None or credentials.password is not None
        if basic and (credentials.username is None or credentials.password is None):
            raise CredentialError(
                f"the MSA server's basic authentication needs both {MSA_USERNAME_VARIABLE} and "
                f"{MSA_PASSWORD_VARIABLE}; only one of them is set"
            )
        if basic and credentials.api_key is not None:
            raise CredentialError(
                f"both {MSA_API_KEY_VARIABLE} and {MSA_USERNAME_VARIABLE}/"
                f"{MSA_PASSWORD_VARIABLE} are set; Boltz's MSA client takes one way of "
                "authenticating: unset one"
            )
        if credentials.api_key_header is not None:
            if credentials.api_key is None:
                raise CredentialError(
                    f"{MSA_API_KEY_HEADER_VARIABLE} names the header for {MSA_API_KEY_VARIABLE}, "
                    "which is not set"
                )
            if not _HEADER_NAME.fullmatch(credentials.api_key_header):
                raise CredentialError(
                    f"{MSA_API_KEY_HEADER_VARIABLE} is not an HTTP header name (letters, digits "
                    f"and -, e.g. {DEFAULT_API_KEY_HEADER})"
                )
        return credentials

    def compute_msa_arguments(self) -> dict[str, str | None]:
        """The keyword arguments of `boltz.main.compute_msa` that carry these credentials."""
        return {
            "msa_server_username": self.username,
            "msa_server_password": self.password,
            "api_key_header": self.api_key_header,
            "api_key_value": self.api_key,
        }

    def describe(self) -> str:
        """How the MSA server is authenticated, without the secret (for logs)."""
        if self.api_key is not None:
            return f"API key in header {self.api_key_header or DEFAULT_API_KEY_HEADER}"
        if self.username is not None:
            return "basic authentication"
        return "no authentication"


def credentials_file_kind(text: str) -> str | None:
    """What kind of credentials file `text` (a file's start) is, if it is one: a Google
    service-account key (JSON with `"type": "service_account"`), a private key (a PEM block),
    or a file of named values one of which is named like a credential (CREDENTIAL_KEY: a
    JSON key file, `~/.aws/credentials`, a .env file). Never says the values."""
    if re.search(r'"type"\s*:\s*"service_account"', text):
        return "a Google service-account key"
    if _PRIVATE_KEY_BLOCK.search(text):
        return "it holds a private key"
    names = _JSON_KEY.findall(text) if text.lstrip().startswith("{") else _LINE_NAME.findall(text)
    named = [name for name in names if CREDENTIAL_KEY.search(name)]
    if named:
        return f"it has a field named like a credential, {named[0]!r}"
    return None


def secrets_passed_to_jobs(variables: Iterable[str]) -> list[str]:
    """The secret variables among those a remote executor passes to every job."""
    return sorted(set(variables) & set(SECRET_VARIABLES))


def check_secrets_stay_local(variables: Iterable[str]) -> None:
    """Refuse to pass secrets to remote jobs: executors write job environments in clear into
    job requests (Google Batch) or command lines."""
    passed = secrets_passed_to_jobs(variables)
    if passed:
        raise CredentialError(
            f"{', '.join(passed)} would be written in clear into every remote job's request "
            "(--envvars, or envvars: in a profile): remove it there. No remote job needs it: "
            "the MSA fetch and the completion notice run in the process that plans the run, "
            "which reads them from its own environment (docs/reliability.md, Secrets)"
        )


def redact_url(url: str) -> str:
    """`url` for a log line: scheme, host and port only (the user, password, path and query,
    where webhook tokens live, are replaced by '...')."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "(an unparseable URL)"
    hidden = "/..." if (parts.path not in ("", "/") or parts.query or parts.fragment) else ""
    user = "...@" if parts.username or parts.password else ""
    return f"{parts.scheme}://{user}{host}{port}{hidden}"
