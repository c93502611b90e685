"""Kafka TLS/SASL settings: from the settings file and the environment to both clients.

The unit tests check the options each client gets. The slow one starts a
broker that only accepts SASL/PLAIN logins and sends and reads through it:
the producer with client_kwargs, the pipeline's own read_kafka with
spark_options.
"""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
from kafka import KafkaAdminClient
from kafka.errors import KafkaTimeoutError

from lakehouse.broker import EmbeddedBroker, free_port
from lakehouse.config import Settings, load_settings
from lakehouse.kafka_options import KafkaSecurity
from lakehouse.producers import kafka_sink

SCRAM_JAAS = (
    "org.apache.kafka.common.security.scram.ScramLoginModule required "
    'username="shop" password="s3cret";'
)


def _settings(security: dict | None = None) -> Settings:
    raw = copy.deepcopy(load_settings().raw)
    raw["kafka"].pop("security", None)
    if security is not None:
        raw["kafka"]["security"] = security
    return Settings(raw)


def test_without_settings_both_clients_stay_plaintext():
    security = KafkaSecurity.from_settings(_settings(), environ={})
    assert (security.spark_options(), security.client_kwargs()) == ({}, {})


def test_sasl_ssl_scram_from_the_environment():
    environ = {
        "LAKEHOUSE_KAFKA_SECURITY_PROTOCOL": "sasl_ssl",
        "LAKEHOUSE_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
        "LAKEHOUSE_KAFKA_SASL_USERNAME": "shop",
        "LAKEHOUSE_KAFKA_SASL_PASSWORD": "s3cret",
        "LAKEHOUSE_KAFKA_SSL_CA_LOCATION": "/etc/kafka/ca.pem",
    }
    security = KafkaSecurity.from_settings(_settings(), environ=environ)
    assert security.spark_options() == {
        "kafka.security.protocol": "SASL_SSL",
        "kafka.sasl.mechanism": "SCRAM-SHA-512",
        "kafka.sasl.jaas.config": SCRAM_JAAS,
        "kafka.ssl.truststore.location": "/etc/kafka/ca.pem",
        "kafka.ssl.truststore.type": "PEM",
    }
    assert security.client_kwargs() == {
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "shop",
        "sasl_plain_password": "s3cret",
        "ssl_check_hostname": True,
        "ssl_cafile": "/etc/kafka/ca.pem",
    }


def test_non_secret_settings_come_from_the_file_and_the_environment_wins():
    file_security = {"security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": "PLAIN"}
    environ = {
        "LAKEHOUSE_KAFKA_SASL_MECHANISM": "SCRAM-SHA-256",
        "LAKEHOUSE_KAFKA_SASL_USERNAME": "shop",
        "LAKEHOUSE_KAFKA_SASL_PASSWORD": "pw",
        # An empty variable (compose's ${VAR:-}) leaves the file's value alone.
        "LAKEHOUSE_KAFKA_SECURITY_PROTOCOL": "",
    }
    security = KafkaSecurity.from_settings(_settings(file_security), environ=environ)
    assert (security.security_protocol, security.sasl_mechanism) == (
        "SASL_PLAINTEXT",
        "SCRAM-SHA-256",
    )


def test_a_given_jaas_line_is_passed_to_spark_as_it_is():
    jaas = "org.example.TokenLoginModule required token=abc;"
    environ = {
        "LAKEHOUSE_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "LAKEHOUSE_KAFKA_SASL_MECHANISM": "OAUTHBEARER",
        "LAKEHOUSE_KAFKA_SASL_JAAS_CONFIG": jaas,
    }
    security = KafkaSecurity.from_settings(_settings(), environ=environ)
    assert security.spark_options()["kafka.sasl.jaas.config"] == jaas
    with pytest.raises(ValueError, match="support the SASL mechanisms"):
        security.client_kwargs()


def test_quotes_and_backslashes_in_a_password_are_escaped_in_the_jaas_line():
    security = KafkaSecurity(
        security_protocol="SASL_PLAINTEXT",
        sasl_mechanism="PLAIN",
        sasl_username="shop",
        sasl_password='a"b\\c',
    )
    assert security.jaas_config() == (
        "org.apache.kafka.common.security.plain.PlainLoginModule required "
        'username="shop" password="a\\"b\\\\c";'
    )


def test_mutual_tls_with_java_stores_for_spark_and_pem_files_for_the_producers():
    security = KafkaSecurity(
        security_protocol="SSL",
        ssl_truststore_location="/certs/truststore.p12",
        ssl_truststore_password="tpw",
        ssl_truststore_type="PKCS12",
        ssl_keystore_location="/certs/client.p12",
        ssl_keystore_password="kpw",
        ssl_key_password="keypw",
        ssl_ca_location="/certs/ca.pem",
        ssl_cert_location="/certs/client.pem",
        ssl_key_location="/certs/client.key",
        ssl_check_hostname=False,
    )
    assert security.spark_options() == {
        "kafka.security.protocol": "SSL",
        "kafka.ssl.truststore.location": "/certs/truststore.p12",
        "kafka.ssl.truststore.password": "tpw",
        "kafka.ssl.truststore.type": "PKCS12",
        "kafka.ssl.keystore.location": "/certs/client.p12",
        "kafka.ssl.keystore.password": "kpw",
        "kafka.ssl.key.password": "keypw",
        "kafka.ssl.endpoint.identification.algorithm": "",
    }
    assert security.client_kwargs() == {
        "security_protocol": "SSL",
        "ssl_check_hostname": False,
        "ssl_cafile": "/certs/ca.pem",
        "ssl_certfile": "/certs/client.pem",
        "ssl_keyfile": "/certs/client.key",
        "ssl_password": "keypw",
    }


def test_sasl_settings_are_left_out_when_the_protocol_does_not_use_sasl():
    security = KafkaSecurity(security_protocol="SSL", sasl_mechanism="PLAIN", sasl_username="u")
    assert not any("sasl" in key for key in security.spark_options())
    assert not any("sasl" in key for key in security.client_kwargs())


@pytest.mark.parametrize(
    ("file_security", "message"),
    [
        ({"sasl_password": "oops"}, "pass them in the environment"),
        ({"sasl_jaas_config": "x required;"}, "LAKEHOUSE_KAFKA_SASL_JAAS_CONFIG"),
        ({"security_protocl": "SSL"}, "unknown keys in \\[kafka.security\\]: security_protocl"),
        ({"security_protocol": "TLS"}, "unknown Kafka security_protocol 'TLS'"),
        ({"security_protocol": "SASL_SSL"}, "needs a SASL mechanism"),
        ({"ssl_check_hostname": "maybe"}, "must be true or false"),
    ],
)
def test_a_wrong_or_secret_file_setting_is_refused(file_security, message):
    with pytest.raises(ValueError, match=message):
        KafkaSecurity.from_settings(_settings(file_security), environ={})


def test_plain_without_a_password_says_which_variables_to_set():
    security = KafkaSecurity(security_protocol="SASL_SSL", sasl_mechanism="PLAIN")
    with pytest.raises(ValueError, match="LAKEHOUSE_KAFKA_SASL_PASSWORD"):
        security.spark_options()


def test_secrets_stay_out_of_repr():
    security = KafkaSecurity(
        security_protocol="SASL_SSL",
        sasl_mechanism="PLAIN",
        sasl_username="shop",
        sasl_password="s3cret",
        sasl_jaas_config="x password=s3cret;",
        ssl_keystore_password="s3cret",
    )
    assert "s3cret" not in repr(security)
    assert "shop" in repr(security)


def test_the_producer_gets_the_security_arguments(monkeypatch):
    created = {}

    def fake_producer(**kwargs):
        created.update(kwargs)
        return object()

    monkeypatch.setattr(kafka_sink, "KafkaProducer", fake_producer)
    monkeypatch.setenv("LAKEHOUSE_KAFKA_SECURITY_PROTOCOL", "SASL_PLAINTEXT")
    monkeypatch.setenv("LAKEHOUSE_KAFKA_SASL_MECHANISM", "PLAIN")
    monkeypatch.setenv("LAKEHOUSE_KAFKA_SASL_USERNAME", "shop")
    monkeypatch.setenv("LAKEHOUSE_KAFKA_SASL_PASSWORD", "pw")
    kafka_sink.create_producer("127.0.0.1:1")
    assert {key: created[key] for key in ("bootstrap_servers", "acks")} == {
        "bootstrap_servers": ["127.0.0.1:1"],
        "acks": "all",
    }
    assert {key: value for key, value in created.items() if "sasl" in key or "security" in key} == {
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": "PLAIN",
        "sasl_plain_username": "shop",
        "sasl_plain_password": "pw",
    }


class SaslPlainBroker(EmbeddedBroker):
    """The embedded broker with its client listener switched to SASL_PLAINTEXT + PLAIN.

    Later lines of a properties file win, so the base file is written and then
    overridden; the controller listener stays PLAINTEXT.
    """

    users = {"admin": "admin-pw", "shop": "shop-pw"}

    def _write_properties(self) -> None:
        super()._write_properties()
        accounts = " ".join(f'user_{name}="{pw}"' for name, pw in self.users.items())
        jaas = (
            "org.apache.kafka.common.security.plain.PlainLoginModule required "
            f'username="admin" password="admin-pw" {accounts};'
        )
        overrides = {
            "listeners": (
                f"SASL_PLAINTEXT://{self.host}:{self.port},"
                f"CONTROLLER://{self.host}:{self.controller_port}"
            ),
            "advertised.listeners": f"SASL_PLAINTEXT://{self.host}:{self.port}",
            "listener.security.protocol.map": "SASL_PLAINTEXT:SASL_PLAINTEXT,CONTROLLER:PLAINTEXT",
            "inter.broker.listener.name": "SASL_PLAINTEXT",
            "sasl.enabled.mechanisms": "PLAIN",
            "sasl.mechanism.inter.broker.protocol": "PLAIN",
            "listener.name.sasl_plaintext.plain.sasl.jaas.config": jaas,
        }
        with self._properties.open("a") as handle:
            handle.writelines(f"{key}={value}\n" for key, value in overrides.items())


@pytest.fixture(scope="module")
def sasl_broker(tmp_path_factory):
    broker = SaslPlainBroker(
        data_dir=Path(tmp_path_factory.mktemp("kafka-sasl")),
        port=free_port(),
        controller_port=free_port(),
        heap="256m",
    )
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


@pytest.mark.slow
def test_producer_and_spark_source_log_in_to_a_sasl_broker(
    spark, sasl_broker, tmp_path, monkeypatch
):
    from lakehouse.pipeline import read_kafka

    for name, value in {
        "SECURITY_PROTOCOL": "SASL_PLAINTEXT",
        "SASL_MECHANISM": "PLAIN",
        "SASL_USERNAME": "shop",
        "SASL_PASSWORD": "shop-pw",
    }.items():
        monkeypatch.setenv(f"LAKEHOUSE_KAFKA_{name}", value)
    settings = load_settings().with_overrides(
        bootstrap_servers=sasl_broker.bootstrap_servers, topic="secured_events"
    )
    kafka_sink.ensure_topic(settings.bootstrap_servers, settings.topic, partitions=1)
    with kafka_sink.create_producer(settings.bootstrap_servers) as producer:
        kafka_sink.send_raw(producer, settings.topic, [(b"k", b"one"), (b"k", b"two")])

    query = (
        read_kafka(spark, settings)
        .selectExpr("CAST(value AS STRING) AS value")
        .writeStream.format("memory")
        .queryName("secured_events")
        .option("checkpointLocation", str(tmp_path / "checkpoint"))
        .trigger(availableNow=True)
        .start()
    )
    try:
        query.awaitTermination(120)
    finally:
        query.stop()
    values = sorted(row.value for row in spark.table("secured_events").collect())
    assert values == ["one", "two"]


@pytest.mark.slow
def test_a_client_without_credentials_is_turned_away(sasl_broker):
    # What makes the test above mean something: the broker does insist on a login.
    with pytest.raises(KafkaTimeoutError, match="Unable to bootstrap"):
        KafkaAdminClient(
            bootstrap_servers=[sasl_broker.bootstrap_servers],
            bootstrap_timeout_ms=5000,
            request_timeout_ms=5000,
        )
