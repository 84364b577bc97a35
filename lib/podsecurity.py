"""What PodSecurity admission would say about new ephemeral containers, in its own words.

PodSecurity checks a pods/ephemeralcontainers update like a pod: container settings first,
the pod's securityContext as the fallback. Each failed check reads as the API server writes
it: `allowPrivilegeEscalation != false (container "x" must set
securityContext.allowPrivilegeEscalation=false)`. Only the checks a container can fail are
here; host namespaces, volumes and sysctls belong to the pod, which was admitted already.
"""
from __future__ import annotations

from typing import Any, Callable, Dict, List, NamedTuple, Optional, Sequence, Tuple

LEVELS = ("privileged", "baseline", "restricted")
BASELINE_CAPABILITIES = frozenset(("AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD",
                                   "NET_BIND_SERVICE", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT"))
SELINUX_TYPES = frozenset(("", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"))
Container = Dict[str, Any]


class Violation(NamedTuple):
    reason: str
    detail: str
    containers: Tuple[str, ...]   # the containers at fault; empty when only the pod is

    def message(self, level: str) -> str:
        return 'violates PodSecurity "%s:latest": %s (%s)' % (level, self.reason, self.detail)


def check(containers: Sequence[Container], pod: Optional[Dict[str, Any]], level: str) -> List[Violation]:
    """The failed checks of `level` (which includes the lower levels), in PodSecurity's order."""
    if level not in LEVELS:
        raise ValueError(level)
    pod_sc = ((pod or {}).get("spec") or {}).get("securityContext") or {}
    pod_sc = pod_sc if isinstance(pod_sc, dict) else {}
    checks = {"privileged": (), "baseline": _BASELINE, "restricted": _RESTRICTED}[level]
    found = []
    for fn in checks:
        violation = fn(containers, pod_sc)
        if violation:
            found.append(violation)
    return found


# --- what only a pod being created is checked for (a patched pod was admitted with them) ---------

_HOST_NAMESPACES = ("hostNetwork", "hostPID", "hostIPC")
SAFE_SYSCTLS = frozenset((
    "kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_syncookies", "net.ipv4.ping_group_range", "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes", "net.ipv4.tcp_rmem", "net.ipv4.tcp_wmem"))
RESTRICTED_VOLUMES = frozenset(("configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim",
                                "projected", "secret", "image"))


def check_pod(spec: Dict[str, Any], containers: Sequence[Container], level: str) -> List[Tuple[str, str]]:
    """(reason, detail) of the pod-level checks of `level`, in PodSecurity's wording."""
    if level == "privileged":
        return []
    out = []
    host = ["%s=true" % key for key in _HOST_NAMESPACES if spec.get(key) is True]
    if host:
        out.append(("host namespaces", ", ".join(host)))
    volumes = [v for v in spec.get("volumes") or [] if isinstance(v, dict)]
    host_paths = [str(v.get("name", "")) for v in volumes if "hostPath" in v]
    if host_paths:
        out.append(("hostPath volumes", "%s %s" % ("volume" if len(host_paths) == 1 else "volumes",
                                                   _quoted(host_paths))))
    using = [(str(c.get("name", "")), [str(p.get("hostPort")) for p in c.get("ports") or []
                                       if isinstance(p, dict) and p.get("hostPort")]) for c in containers]
    using = [(name, ports) for name, ports in using if ports]
    if using:
        ports = [p for _, ps in using for p in ps]
        out.append(("hostPort", "%s %s %s %s" % (_who([n for n, _ in using]), "uses" if len(using) == 1 else "use",
                                                 "hostPort" if len(ports) == 1 else "hostPorts", ", ".join(ports))))
    sysctls = [str(s.get("name", "")) for s in (spec.get("securityContext") or {}).get("sysctls") or []
               if isinstance(s, dict) and s.get("name") not in SAFE_SYSCTLS]
    if sysctls:
        out.append(("forbidden sysctls", ", ".join(sysctls)))
    if level == "restricted":
        bad = [(str(v.get("name", "")), next((k for k in v if k != "name"), "")) for v in volumes
               if not any(k in RESTRICTED_VOLUMES for k in v if k != "name")]
        if bad:
            out.append(("restricted volume types", "%s %s %s %s" % (
                "volume" if len(bad) == 1 else "volumes", _quoted([n for n, _ in bad]),
                "uses" if len(bad) == 1 else "use", "restricted volume type%s %s" % (
                    "" if len(bad) == 1 else "s", _quoted(sorted({t for _, t in bad}))))))
    return out


def _sc(c: Container) -> Dict[str, Any]:
    sc = c.get("securityContext")
    return sc if isinstance(sc, dict) else {}


def _who(names: Sequence[str]) -> str:
    return "%s %s" % ("container" if len(names) == 1 else "containers", ", ".join('"%s"' % n for n in names))


def _names(containers: Sequence[Container], bad: Callable[[Container], bool]) -> Tuple[str, ...]:
    return tuple(str(c.get("name", "")) for c in containers if bad(c))


def _quoted(values: Sequence[str]) -> str:
    return ", ".join('"%s"' % v for v in values)


# --- baseline ---------------------------------------------------------------------------------

def _privileged(cs: Sequence[Container], pod_sc: Dict[str, Any]) -> Optional[Violation]:
    bad = _names(cs, lambda c: _sc(c).get("privileged") is True)
    if bad:
        return Violation("privileged", "%s must not set securityContext.privileged=true" % _who(bad), bad)
    return None


def _added(c: Container) -> List[str]:
    return [str(x) for x in ((_sc(c).get("capabilities") or {}).get("add") or [])]


def _capabilities_baseline(cs: Sequence[Container], pod_sc: Dict[str, Any]) -> Optional[Violation]:
    bad = _names(cs, lambda c: any(cap not in BASELINE_CAPABILITIES for cap in _added(c)))
    if not bad:
        return None
    caps = sorted({cap for c in cs for cap in _added(c) if cap not in BASELINE_CAPABILITIES})
    return Violation("non-default capabilities", "%s must not include %s in securityContext.capabilities.add"
                     % (_who(bad), _quoted(caps)), bad)


def _se_linux(cs: Sequence[Container], pod_sc: Dict[str, Any]) -> Optional[Violation]:
    bad_types: set = set()
    user = role = False

    def wrong(opts: Any) -> bool:
        nonlocal user, role
        if not isinstance(opts, dict):
            return False
        bad = False
        if opts.get("type", "") not in SELINUX_TYPES:
            bad_types.add(str(opts["type"]))
            bad = True
        if opts.get("user"):
            user = bad = True
        if opts.get("role"):
            role = bad = True
        return bad
    pod_bad = wrong(pod_sc.get("seLinuxOptions"))
    bad = _names(cs, lambda c: wrong(_sc(c).get("seLinuxOptions")))
    if not pod_bad and not bad:
        return None
    problems = []
    if bad_types:
        problems.append("%s %s" % ("type" if len(bad_types) == 1 else "types", _quoted(sorted(bad_types))))
    problems += (["user may not be set"] if user else []) + (["role may not be set"] if role else [])
    return Violation("seLinuxOptions", "%s set forbidden securityContext.seLinuxOptions: %s"
                     % (_setters(pod_bad, bad), "; ".join(problems)), bad)


def _setters(pod_bad: bool, containers: Sequence[str]) -> str:
    """PodSecurity's "pod and containers "a", "b"" for who set a forbidden value."""
    return " and ".join((["pod"] if pod_bad else []) + ([_who(containers)] if containers else []))


def _proc_mount(cs: Sequence[Container], pod_sc: Dict[str, Any]) -> Optional[Violation]:
    bad = _names(cs, lambda c: _sc(c).get("procMount") not in (None, "", "Default"))
    if not bad:
        return None
    kinds = sorted({str(_sc(c).get("procMount")) for c in cs if str(c.get("name", "")) in bad})
    return Violation("procMount", "%s must not set securityContext.procMount to %s" % (_who(bad), _quoted(kinds)), bad)


def _seccomp_baseline(cs: Sequence[Container], pod_sc: Dict[str, Any]) -> Optional[Violation]:
    pod_bad = (pod_sc.get("seccompProfile") or {}).get("type") == "Unconfined"
    bad = _names(cs, lambda c: (_sc(c).get("seccompProfile") or {}).get("type") == "Unconfined")
    if not pod_bad and not bad:
        return None
    return Violation("seccompProfile", '%s must not set securityContext.seccompProfile.type to "Unconfined"'
                     % _setters(pod_bad, bad), bad)


def _host_process(cs: Sequence[Container], pod_sc: Dict[str, Any]) -> Optional[Violation]:
    pod_bad = (pod_sc.get("windowsOptions") or {}).get("hostProcess") is True
    bad = _names(cs, lambda c: (_sc(c).get("windowsOptions") or {}).get("hostProcess") is True)
    if not pod_bad and not bad:
        return None
    return Violation("hostProcess", "%s must not set securityContext.windowsOptions.hostProcess=true"
                     % _setters(pod_bad, bad), bad)


def _app_armor(cs: Sequence[Container], pod_sc: Dict[str, Any]) -> Optional[Violation]:
    allowed = (None, "RuntimeDefault", "Localhost")
    pod_type = (pod_sc.get("appArmorProfile") or {}).get("type")
    bad = _names(cs, lambda c: (_sc(c).get("appArmorProfile") or {}).get("type") not in allowed)
    if pod_type in allowed and not bad:
        return None
    values = sorted({str(t) for t in [pod_type] + [(_sc(c).get("appArmorProfile") or {}).get("type") for c in cs]
                     if t not in allowed})
    return Violation("forbidden AppArmor profile" + ("s" if len(values) > 1 else ""),
                     "%s must not set AppArmor profile type to %s" % (_setters(pod_type not in allowed, bad),
                                                                      _quoted(values)), bad)


# --- restricted --------------------------------------------------------------------------------

def _privilege_escalation(cs: Sequence[Container], pod_sc: Dict[str, Any]) -> Optional[Violation]:
    bad = _names(cs, lambda c: _sc(c).get("allowPrivilegeEscalation") is not False)
    if bad:
        return Violation("allowPrivilegeEscalation != false",
                         "%s must set securityContext.allowPrivilegeEscalation=false" % _who(bad), bad)
    return None


def _capabilities_restricted(cs: Sequence[Container], pod_sc: Dict[str, Any]) -> Optional[Violation]:
    no_drop = _names(cs, lambda c: "ALL" not in [str(x) for x in (_sc(c).get("capabilities") or {}).get("drop") or []])
    adds = _names(cs, lambda c: any(cap != "NET_BIND_SERVICE" for cap in _added(c)))
    parts = []
    if no_drop:
        parts.append('%s must set securityContext.capabilities.drop=["ALL"]' % _who(no_drop))
    if adds:
        caps = sorted({cap for c in cs for cap in _added(c) if cap != "NET_BIND_SERVICE"})
        parts.append("%s must not include %s in securityContext.capabilities.add" % (_who(adds), _quoted(caps)))
    if not parts:
        return None
    return Violation("unrestricted capabilities", "; ".join(parts), tuple(dict.fromkeys(no_drop + adds)))


def _run_as_non_root(cs: Sequence[Container], pod_sc: Dict[str, Any]) -> Optional[Violation]:
    pod_value = pod_sc.get("runAsNonRoot")
    explicit = _names(cs, lambda c: _sc(c).get("runAsNonRoot") is False)
    if pod_value is False or explicit:
        return Violation("runAsNonRoot != true", "%s must not set securityContext.runAsNonRoot=false"
                         % _setters(pod_value is False, explicit), explicit)
    if pod_value is True:
        return None
    unset = _names(cs, lambda c: _sc(c).get("runAsNonRoot") is None)
    if unset:
        return Violation("runAsNonRoot != true",
                         "pod or %s must set securityContext.runAsNonRoot=true" % _who(unset), unset)
    return None


def _run_as_user(cs: Sequence[Container], pod_sc: Dict[str, Any]) -> Optional[Violation]:
    pod_bad = pod_sc.get("runAsUser") == 0
    bad = _names(cs, lambda c: _sc(c).get("runAsUser") == 0)
    if not pod_bad and not bad:
        return None
    return Violation("runAsUser=0", "%s must not set runAsUser=0" % _setters(pod_bad, bad), bad)


def _seccomp_restricted(cs: Sequence[Container], pod_sc: Dict[str, Any]) -> Optional[Violation]:
    ok = ("RuntimeDefault", "Localhost")
    pod_type = (pod_sc.get("seccompProfile") or {}).get("type")
    wrong = _names(cs, lambda c: (_sc(c).get("seccompProfile") or {}).get("type") not in (None,) + ok)
    pod_wrong = pod_type is not None and pod_type not in ok
    if pod_wrong or wrong:  # who set a wrong value is told first, and alone
        kinds = sorted({str(t) for t in [pod_type if pod_wrong else None] +
                        [(_sc(c).get("seccompProfile") or {}).get("type") for c in cs
                         if str(c.get("name", "")) in wrong] if t is not None})
        return Violation("seccompProfile", "%s must not set securityContext.seccompProfile.type to %s"
                         % (_setters(pod_wrong, wrong), _quoted(kinds)), wrong)
    unset = () if pod_type in ok else _names(cs, lambda c: (_sc(c).get("seccompProfile") or {}).get("type") is None)
    if unset:
        return Violation("seccompProfile", 'pod or %s must set securityContext.seccompProfile.type to "RuntimeDefault"'
                         ' or "Localhost"' % _who(unset), unset)
    return None


# In PodSecurity's order (by check ID); at restricted, the capabilities and seccomp checks of
# that level replace the baseline ones.
_BASELINE = (_app_armor, _capabilities_baseline, _privileged, _proc_mount, _se_linux, _seccomp_baseline,
             _host_process)
_RESTRICTED = (_privilege_escalation, _app_armor, _capabilities_restricted, _privileged,
               _proc_mount, _run_as_non_root, _run_as_user, _se_linux, _seccomp_restricted, _host_process)
