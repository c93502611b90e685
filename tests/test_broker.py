"""The embedded broker's storage formatting, with Kafka's own StorageTool."""

from __future__ import annotations

from lakehouse.broker import EmbeddedBroker, free_port


def test_a_cluster_id_starting_with_a_dash_is_not_read_as_an_option(tmp_path):
    # Random ids are URL-safe base64: one in 64 starts with "-".
    broker = EmbeddedBroker(data_dir=tmp_path, port=free_port(), controller_port=free_port())
    broker._write_properties()

    broker._format_storage("-jXIe4d4SVqTSV-cnDgyrA")

    meta = (tmp_path / "logs" / "meta.properties").read_text().splitlines()
    assert "cluster.id=-jXIe4d4SVqTSV-cnDgyrA" in meta
