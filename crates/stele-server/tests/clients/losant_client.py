"""Drives Stele's Losant profile with the official `losant-rest` client, unchanged.

Usage: python losant_client.py BASE_URL TOKEN INSTANCE_ID
Prints one JSON object with what the client returned (or raised) for each call.
"""
import json
import sys

from losant_rest import Client
from losant_rest.losant_error import LosantError


def attempt(call):
    try:
        return {"ok": call()}
    except LosantError as e:
        return {"status": e.status, "data": e.data}


def main():
    url, token, instance = sys.argv[1:4]
    client = Client(token, url=url)
    out = {}
    out["first_page"] = client.instance_audit_logs.get(
        instanceId=instance, sortField="creationDate", sortDirection="desc", page=0, perPage=2
    )
    out["all"] = client.instance_audit_logs.get(instanceId=instance, perPage=1000)
    out["filtered"] = client.instance_audit_logs.get(
        instanceId=instance,
        auditLogFilter={
            "primaryTarget": [{"type": "Organization"}, {"id": "575ec8687ae143cd83dc4a97", "type": "ApiToken"}],
            "actor": [{"id": "575ed70c7ae143cd83dc4aa9", "type": "User"}],
            "responseCode": [200, 204],
        },
    )
    out["ranged"] = client.instance_audit_logs.get(
        instanceId=instance, start=1767348000000, end=1767520800000, sortDirection="asc"
    )
    first_id = out["first_page"]["items"][0]["id"]
    out["item"] = client.instance_audit_log.get(instanceId=instance, instanceAuditLogId=first_id)
    out["missing_item"] = attempt(
        lambda: client.instance_audit_log.get(instanceId=instance, instanceAuditLogId="f" * 24)
    )
    out["too_many"] = attempt(lambda: client.instance_audit_logs.get(instanceId=instance, perPage=5000))
    out["unauthorized"] = attempt(lambda: Client("not-a-key", url=url).instance_audit_logs.get(instanceId=instance))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
