"""Kafka client security (TLS and SASL) for the Spark Kafka source and kafka-python.

One set of settings feeds both kinds of client the project runs: the Spark
Kafka source gets them as `kafka.`-prefixed reader options (spark_options),
the producers and the admin client as kafka-python keyword arguments
(client_kwargs). Without any setting both return nothing, and the clients
talk PLAINTEXT as before.

Where a setting comes from: the environment variable LAKEHOUSE_KAFKA_<NAME>
(NAME being the field name below, upper-cased), else the key of the same
name in conf [kafka.security], else the default. An empty variable counts as
unset. Passwords and JAAS lines are read from the environment only: a
settings file is committed, so one holding a secret is refused.

    security_protocol       PLAINTEXT (default), SSL, SASL_PLAINTEXT or SASL_SSL
    sasl_mechanism          PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (others: Spark only,
                            with sasl_jaas_config)
    sasl_username           the SASL user, for both clients
    sasl_password           (secret) its password
    sasl_jaas_config        (secret) a whole JAAS line for Spark; by default one is
                            built from the user and password
    ssl_ca_location         PEM file of the CA certificates to trust, for both clients
    ssl_truststore_location JKS or PKCS12 trust store, Spark only (wins over the PEM file)
    ssl_truststore_password (secret)
    ssl_truststore_type     JKS, PKCS12 or PEM (Kafka's default: JKS)
    ssl_keystore_location   client certificate for mutual TLS, Spark only
    ssl_keystore_password   (secret)
    ssl_keystore_type
    ssl_key_password        (secret) the private key's password, both clients
    ssl_cert_location       PEM client certificate, kafka-python only
    ssl_key_location        PEM private key, kafka-python only
    ssl_check_hostname      true (default) or false: check the broker's name in its
                            certificate

Files named here must exist at the same path wherever a client runs: on the
Spark driver and on every executor (the source's consumers run there).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from lakehouse.config import Settings

ENV_PREFIX = "LAKEHOUSE_KAFKA_"

PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")

# The login module behind each mechanism for which a JAAS line can be built
# from a user and password; the same mechanisms are the ones kafka-python takes.
LOGIN_MODULES = {
    "PLAIN": "org.apache.kafka.common.security.plain.PlainLoginModule",
    "SCRAM-SHA-256": "org.apache.kafka.common.security.scram.ScramLoginModule",
    "SCRAM-SHA-512": "org.apache.kafka.common.security.scram.ScramLoginModule",
}

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _secret() -> Any:
    """A field read from the environment only, and left out of repr()."""
    return field(default=None, repr=False, metadata={"secret": True})


@dataclass(frozen=True)
class KafkaSecurity:
    """TLS and SASL settings of the Kafka clients; see the module docstring."""

    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str | None = None
    sasl_username: str | None = None
    sasl_password: str | None = _secret()
    sasl_jaas_config: str | None = _secret()
    ssl_ca_location: str | None = None
    ssl_truststore_location: str | None = None
    ssl_truststore_password: str | None = _secret()
    ssl_truststore_type: str | None = None
    ssl_keystore_location: str | None = None
    ssl_keystore_password: str | None = _secret()
    ssl_keystore_type: str | None = None
    ssl_key_password: str | None = _secret()
    ssl_cert_location: str | None = None
    ssl_key_location: str | None = None
    ssl_check_hostname: bool = True

    def __post_init__(self) -> None:
        protocol = self.security_protocol.upper()
        if protocol not in PROTOCOLS:
            raise ValueError(
                f"unknown Kafka security_protocol {self.security_protocol!r}: "
                f"use one of {', '.join(PROTOCOLS)}"
            )
        object.__setattr__(self, "security_protocol", protocol)
        if self.sasl_mechanism:
            object.__setattr__(self, "sasl_mechanism", self.sasl_mechanism.upper())
        if self.uses_sasl and not self.sasl_mechanism:
            raise ValueError(
                f"security_protocol {protocol} needs a SASL mechanism: "
                f"set {ENV_PREFIX}SASL_MECHANISM"
            )

    @property
    def uses_sasl(self) -> bool:
        return self.security_protocol.startswith("SASL_")

    @property
    def uses_ssl(self) -> bool:
        return self.security_protocol.endswith("SSL")

    @classmethod
    def from_settings(
        cls, settings: Settings, environ: Mapping[str, str] | None = None
    ) -> KafkaSecurity:
        """conf [kafka.security] with the LAKEHOUSE_KAFKA_* variables of `environ` on top.

        `environ` defaults to the process environment.
        """
        environ = os.environ if environ is None else environ
        from_file = dict(settings.section("kafka").get("security", {}))
        names = {item.name: item for item in fields(cls)}
        unknown = sorted(set(from_file) - set(names))
        if unknown:
            raise ValueError(f"unknown keys in [kafka.security]: {', '.join(unknown)}")
        secrets_in_file = sorted(key for key in from_file if names[key].metadata.get("secret"))
        if secrets_in_file:
            variables = ", ".join(ENV_PREFIX + key.upper() for key in secrets_in_file)
            raise ValueError(
                f"[kafka.security] holds secrets ({', '.join(secrets_in_file)}); a settings "
                f"file is committed, so pass them in the environment instead: {variables}"
            )

        values: dict[str, Any] = {}
        for name, item in names.items():
            value = environ.get(ENV_PREFIX + name.upper()) or from_file.get(name)
            if value is None or value == "":
                continue
            values[name] = _as_bool(name, value) if item.type == "bool" else str(value)
        return cls(**values)

    def jaas_config(self) -> str:
        """The JAAS line Spark's consumers log in with: the given one, or one built from
        the user and password for PLAIN and SCRAM."""
        if self.sasl_jaas_config:
            return self.sasl_jaas_config
        module = LOGIN_MODULES.get(self.sasl_mechanism or "")
        if module is None:
            raise ValueError(
                f"SASL mechanism {self.sasl_mechanism} needs a whole JAAS line: "
                f"set {ENV_PREFIX}SASL_JAAS_CONFIG"
            )
        username, password = self._credentials()
        return (
            f'{module} required username="{_jaas_quoted(username)}" '
            f'password="{_jaas_quoted(password)}";'
        )

    def spark_options(self) -> dict[str, str]:
        """Reader options for spark.readStream.format("kafka"); empty for PLAINTEXT."""
        if self.security_protocol == "PLAINTEXT":
            return {}
        options = {"security.protocol": self.security_protocol}
        if self.uses_sasl:
            options["sasl.mechanism"] = self.sasl_mechanism or ""
            options["sasl.jaas.config"] = self.jaas_config()
        if self.uses_ssl:
            if self.ssl_truststore_location:
                options["ssl.truststore.location"] = self.ssl_truststore_location
                _put(options, "ssl.truststore.password", self.ssl_truststore_password)
                _put(options, "ssl.truststore.type", self.ssl_truststore_type)
            elif self.ssl_ca_location:
                # The Java client reads a PEM file of certificates as a trust store too.
                options["ssl.truststore.location"] = self.ssl_ca_location
                options["ssl.truststore.type"] = "PEM"
            _put(options, "ssl.keystore.location", self.ssl_keystore_location)
            _put(options, "ssl.keystore.password", self.ssl_keystore_password)
            _put(options, "ssl.keystore.type", self.ssl_keystore_type)
            _put(options, "ssl.key.password", self.ssl_key_password)
            if not self.ssl_check_hostname:
                # An empty algorithm is how the Java client turns the check off.
                options["ssl.endpoint.identification.algorithm"] = ""
        return {f"kafka.{key}": value for key, value in options.items()}

    def client_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for kafka-python's KafkaProducer and KafkaAdminClient."""
        if self.security_protocol == "PLAINTEXT":
            return {}
        kwargs: dict[str, Any] = {"security_protocol": self.security_protocol}
        if self.uses_sasl:
            if self.sasl_mechanism not in LOGIN_MODULES:
                raise ValueError(
                    f"the producers support the SASL mechanisms {', '.join(LOGIN_MODULES)}, "
                    f"not {self.sasl_mechanism}"
                )
            username, password = self._credentials()
            kwargs.update(
                sasl_mechanism=self.sasl_mechanism,
                sasl_plain_username=username,
                sasl_plain_password=password,
            )
        if self.uses_ssl:
            kwargs["ssl_check_hostname"] = self.ssl_check_hostname
            _put(kwargs, "ssl_cafile", self.ssl_ca_location)
            _put(kwargs, "ssl_certfile", self.ssl_cert_location)
            _put(kwargs, "ssl_keyfile", self.ssl_key_location)
            _put(kwargs, "ssl_password", self.ssl_key_password)
        return kwargs

    def _credentials(self) -> tuple[str, str]:
        if not (self.sasl_username and self.sasl_password):
            raise ValueError(
                f"SASL {self.sasl_mechanism} needs a user and a password: set "
                f"{ENV_PREFIX}SASL_USERNAME and {ENV_PREFIX}SASL_PASSWORD"
            )
        return self.sasl_username, self.sasl_password


def _put(target: dict[str, Any], key: str, value: str | None) -> None:
    if value:
        target[key] = value


def _as_bool(name: str, value: object) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"{name} must be true or false, not {value!r}")


def _jaas_quoted(value: str) -> str:
    """A value inside JAAS double quotes: backslashes and quotes escaped."""
    return value.replace("\\", "\\\\").replace('"', '\\"')
