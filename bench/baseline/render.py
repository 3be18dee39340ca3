#!/usr/bin/env python3
"""The status quo meshfed is measured against: the script a platform team
would write instead of using meshfed.

    render.py SPEC OUTDIR

Reads a MeshFederation spec with PyYAML (libyaml C loader), works out who
imports and trusts what, renders every object with Jinja2 from the same
templates meshfed embeds (`templates/*.yaml`; every `{{ value }}` written as
JSON, as minijinja does for `.yaml` templates), parses each rendered object
back with the C loader and dumps it again with the C dumper (so a broken
template is caught and the output is normalised, as meshfed does), and
writes `OUTDIR/<cluster>/` with the same files as `meshfed generate -o`.

It covers what the benchmark's federations use (helm or no installer, files
as root CA sources, default `to:`) and checks nothing: it is the fast path
of a hand-rolled tool, not a second implementation of meshfed's checks.
"""

import base64
import hashlib
import json
import os
import sys

import jinja2
import yaml

TEMPLATES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "templates")
PROTOCOL_PREFIXES = [
    ("grpc-web", "GRPC"), ("grpc", "GRPC"), ("http2", "HTTP2"), ("https", "HTTPS"), ("http", "HTTP"),
    ("mongo", "MONGO"), ("mysql", "TCP"), ("redis", "TCP"), ("tcp", "TCP"), ("tls", "TLS"),
    ("udp", "TCP"), ("h2c", "HTTP2"),
]
DEFAULT_GATEWAY_PORTS = [("status-port", 15021), ("http2", 80), ("https", 443)]


def object_name(*parts):
    full = "-".join(parts)
    if len(full) <= 63:
        return full
    digest = hashlib.sha256(full.encode()).hexdigest()
    return f"{full[:52].rstrip('-')}-{digest[:10]}"


def protocol(port):
    if port.get("protocol"):
        return port["protocol"]
    name = port["name"]
    prefix = name.split("-")[0]
    for p, proto in PROTOCOL_PREFIXES:
        if p == prefix or p == name:
            return proto
    return "TCP"


def is_ip(address):
    import ipaddress

    try:
        ipaddress.ip_address(address)
        return True
    except ValueError:
        return False


# plan::TRUST_SECRET_READERS (src/plan/trust.rs)
TRUST_SECRET_READERS = (
    "credentialName (ca.crt) of SIMPLE/MUTUAL TLS and clients outside the mesh; "
    "not Istio ISTIO_MUTUAL sidecars, which get these roots from meshConfig.caCertificates"
)


def meta(name, namespace, fed, cluster, source=None):
    labels = {"app.kubernetes.io/managed-by": "meshfed", "meshfed.io/federation": fed}
    if source:
        labels["meshfed.io/source-cluster"] = source
    return {"name": name, "namespace": namespace, "labels": labels, "annotations": {"meshfed.io/cluster": cluster}}


def read_roots(spec_dir, cluster):
    roots = []
    for path in cluster["rootCA"].get("files", []):
        with open(os.path.join(spec_dir, path)) as f:
            text = f.read()
        for block in text.split("-----BEGIN CERTIFICATE-----")[1:]:
            body = block.split("-----END CERTIFICATE-----")[0]
            der = base64.b64decode("".join(body.split()))
            b64 = base64.b64encode(der).decode()
            pem = "-----BEGIN CERTIFICATE-----\n"
            pem += "".join(b64[i:i + 64] + "\n" for i in range(0, len(b64), 64))
            pem += "-----END CERTIFICATE-----\n"
            roots.append({"sha256": hashlib.sha256(der).hexdigest(), "pem": pem})
    roots.sort(key=lambda r: r["sha256"])
    return roots


def plan(spec, spec_dir):
    fed = spec["metadata"]["name"]
    s = spec["spec"]
    istio = dict(s["istio"])
    istio.setdefault("namespace", "istio-system")
    istio.setdefault("installer", "helm")
    minor = int(str(istio["version"]).split(".")[1])
    istio["networking_api"] = "networking.istio.io/v1" if minor >= 22 else "networking.istio.io/v1beta1"
    import_ns = s.get("importNamespace", "istio-system")
    clusters = sorted(s["clusters"], key=lambda c: c["name"])
    for c in clusters:
        c.setdefault("trustDomain", c["domain"])
        gw = c.setdefault("gateway", {})
        gw.setdefault("port", 15443)
        gw.setdefault("selector", {"istio": "ingressgateway"})
        gw.setdefault("addresses", [])
        c["roots"] = read_roots(spec_dir, c)
    by_name = {c["name"]: c for c in clusters}
    imports = {c["name"]: [] for c in clusters}
    hosts = {}
    peers = {c["name"]: set() for c in clusters}
    for r in clusters:
        for e in r.get("exports", []):
            host = f"{e['service']}.{e['namespace']}.svc.{r['domain']}"
            hosts.setdefault(r["name"], []).append(host)
            ports = sorted(
                ({"name": p["name"], "number": p["port"], "protocol": protocol(p)} for p in e["ports"]),
                key=lambda p: p["number"],
            )
            endpoints = sorted(set(r["gateway"]["addresses"]))
            sans = sorted({f"spiffe://{r['trustDomain']}/ns/{e['namespace']}/sa/{sa}" for sa in e.get("serviceAccounts", [])})
            targets = e.get("to") or [n for n in by_name if n != r["name"]]
            for importer in targets:
                peers[importer].add(r["name"])
                peers[r["name"]].add(importer)
                imports[importer].append({
                    "meta": meta(object_name(fed, e["service"], e["namespace"], r["name"]), import_ns, fed, importer, r["name"]),
                    "host": host,
                    "source_cluster": r["name"],
                    "ports": ports,
                    "resolution": "STATIC" if all(is_ip(a) for a in endpoints) else "DNS",
                    "endpoints": endpoints,
                    "gateway_port": r["gateway"]["port"],
                    "subject_alt_names": sans,
                    "export_to": sorted(set(e.get("consumers", []))),
                })
    for c in clusters:
        name = c["name"]
        c["imports"] = sorted(imports[name], key=lambda i: (i["source_cluster"], i["host"]))
        c["gateway_exposure"] = None
        if name in hosts:
            c["gateway_exposure"] = {
                "meta": meta(object_name(fed, "gateway"), istio["namespace"], fed, name),
                "selector": c["gateway"]["selector"],
                "port": c["gateway"]["port"],
                "hosts": sorted(hosts[name]),
            }
        remotes = [
            {"cluster": p, "trust_domain": by_name[p]["trustDomain"], "roots": by_name[p]["roots"],
             "pem": "".join(r["pem"] for r in by_name[p]["roots"])}
            for p in sorted(peers[name])
        ]
        c["trust"] = None
        if remotes:
            unique = {r["sha256"]: r["pem"] for rt in remotes for r in rt["roots"]}
            trust_meta = meta(object_name(fed, "trust-bundle"), istio["namespace"], fed, name)
            trust_meta["annotations"]["meshfed.io/read-by"] = TRUST_SECRET_READERS
            c["trust"] = {
                "meta": trust_meta,
                "remotes": remotes,
                "ca_crt": "".join(unique[k] for k in sorted(unique)),
            }
        by_root = {}
        for rt in remotes:
            for r in rt["roots"]:
                by_root.setdefault(r["sha256"], (r["pem"], set()))[1].add(rt["trust_domain"])
        cas = sorted(
            ({"pem": pem, "trust_domains": sorted(tds)} for pem, tds in by_root.values()),
            key=lambda ca: (ca["trust_domains"], ca["pem"]),
        )
        env = {"ISTIO_MULTIROOT_MESH": "true"}
        proxy = {"ISTIO_META_DNS_CAPTURE": "true", "PROXY_CONFIG_XDS_AGENT": "true"}
        if minor <= 22:
            proxy["ISTIO_META_DNS_AUTO_ALLOCATE"] = "true"
        elif minor in (23, 24):
            env["PILOT_ENABLE_IP_AUTOALLOCATE"] = "true"
        gw_ports = []
        if c["gateway_exposure"]:
            port = c["gateway"]["port"]
            gw_ports = [{"name": n, "port": p, "target_port": p} for n, p in DEFAULT_GATEWAY_PORTS if p != port]
            gw_ports.append({"name": "tls-meshfed", "port": port, "target_port": port})
        c["mesh"] = {
            "cluster_domain": c["domain"],
            "trust_domain": c["trustDomain"],
            "network": c.get("network"),
            "ca_certificates": cas,
            "istiod_env": dict(sorted(env.items())),
            "proxy_metadata": dict(sorted(proxy.items())),
            "gateway_service_ports": gw_ports,
            "gateway_selector": c["gateway"]["selector"],
        }
    federation = {"name": fed, "istio": istio, "import_namespace": import_ns}
    return federation, clusters


def environment():
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        undefined=jinja2.StrictUndefined,
        finalize=json.dumps,
        keep_trailing_newline=True,
    )
    env.filters["b64encode"] = lambda s: base64.b64encode(s.encode()).decode()
    return env


def render(env, template, **ctx):
    """Renders one object, parses it back and dumps it again."""
    text = env.get_template(template).render(**ctx)
    obj = yaml.load(text, Loader=yaml.CSafeLoader)
    if not isinstance(obj, dict):
        raise SystemExit(f"template {template} rendered invalid output: not a mapping")
    return yaml.dump(obj, Dumper=yaml.CSafeDumper, sort_keys=False, default_flow_style=False, width=1 << 30)


def cluster_files(env, federation, c, installer):
    files = {}  # name -> (text, applied)
    base = {"federation": federation, "cluster": {"name": c["name"], "domain": c["domain"]}}
    if c["trust"]:
        files["trust-bundle.yaml"] = (render(env, "trust-bundle.yaml", trust=c["trust"], **base), True)
    if c["gateway_exposure"]:
        files["gateway.yaml"] = (render(env, "gateway.yaml", gateway=c["gateway_exposure"], **base), True)
    imports = {}
    for imp in c["imports"]:
        docs = imports.setdefault(f"imports-{imp['source_cluster']}.yaml", [])
        docs.append(render(env, "serviceentry.yaml", **{"import": imp}, **base))
        docs.append(render(env, "destinationrule.yaml", **{"import": imp}, **base))
    for name, docs in imports.items():
        files[name] = ("---\n".join(docs), True)
    if installer == "helm":
        files["helm-istiod-values.yaml"] = (render(env, "helm-istiod-values.yaml", mesh=c["mesh"], **base), False)
        if c["mesh"]["gateway_service_ports"]:
            files["helm-gateway-values.yaml"] = (render(env, "helm-gateway-values.yaml", mesh=c["mesh"], **base), False)
    kustomization = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": sorted(n for n, (_, applied) in files.items() if applied),
    }
    files["kustomization.yaml"] = (yaml.dump(kustomization, Dumper=yaml.CSafeDumper, sort_keys=False), False)
    return files


def main(argv):
    if len(argv) != 3:
        raise SystemExit("usage: render.py SPEC OUTDIR")
    spec_path, out = argv[1], argv[2]
    with open(spec_path) as f:
        spec = yaml.load(f, Loader=yaml.CSafeLoader)
    federation, clusters = plan(spec, os.path.dirname(os.path.abspath(spec_path)))
    env = environment()
    for c in clusters:
        files = cluster_files(env, federation, c, federation["istio"]["installer"])
        cdir = os.path.join(out, c["name"])
        os.makedirs(cdir, exist_ok=True)
        for name, (text, _) in files.items():
            with open(os.path.join(cdir, name), "w") as f:
                f.write(text)


if __name__ == "__main__":
    main(sys.argv)
