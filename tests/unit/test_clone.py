"""Copying a replica Compose made: the create request, and which services qualify."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from agentlab.engine.clone import clonable, clone_request

SHORT_ID = "30e2d5e0cf25"
TEMPLATE: dict[str, Any] = {  # trimmed from `docker inspect` of a replica Compose created
    "Id": SHORT_ID + "0" * 52,
    "Name": "/lab-agent-4",
    "Config": {
        "Hostname": SHORT_ID,
        "Env": ["COLLECTOR_URL=http://collector:9000", "PATH=/usr/bin:/bin"],
        "Image": "lab/agent:1.3.0",
        "MacAddress": "02:42:ac:12:00:08",
        "Labels": {
            "com.docker.compose.config-hash": "31eb7b52",
            "com.docker.compose.container-number": "4",
            "com.docker.compose.project": "lab",
            "com.docker.compose.service": "agent",
            "com.docker.compose.replace": "lab-agent-1",
        },
    },
    "HostConfig": {
        "NetworkMode": "lab_front",
        "PortBindings": {"8000/tcp": [{"HostIp": "127.0.0.1", "HostPort": ""}]},
        "Mounts": [{"Type": "volume", "Target": "/data", "VolumeOptions": {}}],
    },
    "NetworkSettings": {
        "Networks": {
            "lab_front": {
                "Aliases": ["lab-agent-4", "agent", SHORT_ID],
                "IPAddress": "172.18.0.8",
                "MacAddress": "02:42:ac:12:00:08",
                "EndpointID": "f689",
            },
            "lab_back": {
                "Aliases": ["lab-agent-4", "agent", "worker", SHORT_ID],
                "Links": ["db:database"],
                "GwPriority": 10,
                "IPAddress": "172.19.0.3",
                "DNSNames": ["lab-agent-4", "agent", "worker", SHORT_ID],
            },
        }
    },
}


def test_a_copy_has_its_own_name_number_and_aliases_and_nothing_else_changes() -> None:
    request = clone_request(TEMPLATE, 7)
    assert request is not None
    assert request.name == "lab-agent-7"
    body = request.body
    assert body["Labels"] == {
        "com.docker.compose.config-hash": "31eb7b52",  # the same configuration: Compose keeps it
        "com.docker.compose.container-number": "7",
        "com.docker.compose.project": "lab",
        "com.docker.compose.service": "agent",
    }
    assert "Hostname" not in body and "MacAddress" not in body  # the engine picks new ones
    assert body["Env"] == TEMPLATE["Config"]["Env"] and body["Image"] == "lab/agent:1.3.0"
    assert body["HostConfig"] == TEMPLATE["HostConfig"]  # ephemeral port, anonymous volume
    assert body["NetworkingConfig"] == {
        "EndpointsConfig": {"lab_front": {"Aliases": ["lab-agent-7", "agent"]}}
    }
    assert request.networks == {
        "lab_back": {
            "Aliases": ["lab-agent-7", "agent", "worker"],
            "Links": ["db:database"],
            "GwPriority": 10,
        }
    }


def test_a_copy_of_a_recreated_replica_gets_anonymous_volumes_of_its_own() -> None:
    """Compose recreates a replica on its predecessor's anonymous volumes (named in
    Mounts); a copy sharing them would share a scratch directory with the template."""
    template = copy.deepcopy(TEMPLATE)
    inherited = {"Type": "volume", "Source": "38b080a5" * 8, "Target": "/anon"}
    named = {"Type": "volume", "Source": "lab_data", "Target": "/data", "ReadOnly": True}
    bind = {"Type": "bind", "Source": "/srv/conf", "Target": "/conf"}
    template["HostConfig"]["Mounts"] = [inherited, named, bind]
    request = clone_request(template, 7)
    assert request is not None
    assert request.body["HostConfig"]["Mounts"] == [
        {"Type": "volume", "Target": "/anon"},
        named,
        bind,
    ]


def test_copying_leaves_the_template_alone() -> None:
    template = copy.deepcopy(TEMPLATE)
    clone_request(template, 7)
    assert template == TEMPLATE


def test_a_hostname_the_user_chose_is_kept() -> None:
    template = copy.deepcopy(TEMPLATE)
    template["Config"]["Hostname"] = "agent-host"
    request = clone_request(template, 5)
    assert request is not None and request.body["Hostname"] == "agent-host"


def test_compose_v1_separators_are_kept() -> None:
    template = copy.deepcopy(TEMPLATE)
    template["Name"] = "/lab_agent_4"
    request = clone_request(template, 5)
    assert request is not None and request.name == "lab_agent_5"


@pytest.mark.parametrize("name", ["/my-agent", "/lab-agent-14"])
def test_no_copy_when_the_name_does_not_end_in_the_number(name: str) -> None:
    template = copy.deepcopy(TEMPLATE)
    template["Name"] = name  # container_name, or a number label that does not match
    assert clone_request(template, 5) is None


DEMO_AGENT = {
    "image": "agentlab-demo/agent:1.3.0",
    "command": None,
    "entrypoint": None,
    "environment": {"COLLECTOR_URL": "http://collector:9000"},
    "healthcheck": {"interval": "1s", "test": ["CMD", "true"]},
    "networks": {"lab": None},
    "deploy": {"replicas": 3},
    "pull_policy": "never",
    "stop_grace_period": "5s",
    "x-agentlab": {"note": "extension keys are the user's"},
}


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({}, True),
        (
            {"ports": [{"target": 8000, "host_ip": "127.0.0.1"}], "volumes": [{"target": "/d"}]},
            True,
        ),
        ({"networks": {"lab": {"aliases": ["worker"], "gw_priority": 1}}}, True),
        ({"network_mode": "bridge"}, True),
        ({"secrets": [{"source": "token"}]}, False),  # Compose may copy the content in
        ({"configs": [{"source": "settings"}]}, False),
        ({"post_start": [{"command": ["warm-up"]}]}, False),  # a hook run after start
        ({"networks": {"lab": {"ipv4_address": "10.5.0.9"}}}, False),  # one address, one replica
        ({"mac_address": "02:42:ac:11:00:02"}, False),
        ({"network_mode": "service:vpn"}, False),  # shares the hostname it would copy
        ({"links": ["db"]}, False),  # Compose numbers link aliases per replica
        ({"networks": {"lab": {"interface_name": "eth9"}}}, False),  # a key it does not know
        ({"a_key_from_a_newer_compose": True}, False),
    ],
)
def test_which_services_are_copied(change: dict[str, Any], expected: bool) -> None:
    assert clonable({**DEMO_AGENT, **change}) is expected
