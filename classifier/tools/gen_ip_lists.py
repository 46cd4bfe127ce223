#!/usr/bin/env python3
"""Regenerates classifier/src/ip_lists_data.rs: nDPI's address lists (the prefixes nDPI matches a
flow's server address against, `host_protocol_list[]` and the generated `ndpi_*_match.c.inc` lists)
flattened into sorted, non-overlapping (start, end, id) ranges, longest prefix winning as in nDPI's
patricia tree (`ndpi_network_ptree_match`), adjacent ranges of one id merged.

Two sources:

  --ndpi-src DIR   an nDPI checkout: parses every `src/lib/inc_generated/ndpi_*_match.c.inc` and
                   `ndpi_asn_*.c.inc` plus `host_protocol_list[]` of `src/lib/ndpi_content_match.c.inc`
                   (IPv4 `{ 0x03072300 /* 3.7.35.0/25 */, 25, NDPI_PROTOCOL_ZOOM }` and IPv6
                   `{ "2001:db8::", 32, NDPI_PROTOCOL_X }` rows); NDPI_PROTOCOL_* names map to ids
                   through the comments of proto/src/protocol_table.rs.
  --libndpi SO     a built libndpi (e.g. Debian's libndpi4.2 package, /usr/lib/x86_64-linux-gnu/
                   libndpi.so.4.2.0): scans its data for the compiled `ndpi_network` arrays
                   ({u32 network, u8 cidr, u16 protocol}, 8 bytes, terminated by a zero row) and maps
                   that build's ids to ours by protocol name (from `ndpiReader -h`).

The data committed was made with `--libndpi` from Debian's libndpi4.2 4.2-2 (nDPI 4.2 release),
because no nDPI checkout is reachable from the build machine; re-run with --ndpi-src on a 4.11
checkout (the corpus was labelled by 4.11-dev 3b1286ab) to refresh it.

Usage: python3 classifier/tools/gen_ip_lists.py --libndpi /usr/lib/x86_64-linux-gnu/libndpi.so.4.2.0
"""

import argparse
import collections
import ipaddress
import pathlib
import re
import struct
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
OUT = ROOT / "classifier/src/ip_lists_data.rs"
TABLE = ROOT / "proto/src/protocol_table.rs"
# Arrays shorter than this in a binary scan are not address lists (random data can look like a
# few rows); nDPI's smallest generated list has more.
MIN_ARRAY = 8


def our_table():
    """(name -> id, NDPI_PROTOCOL_X -> id) from proto/src/protocol_table.rs."""
    by_name, by_const = {}, {}
    row = re.compile(r'Row \{ id: (\d+), name: "([^"]+)".*// (NDPI_\w+)')
    for line in TABLE.read_text().splitlines():
        m = row.search(line)
        if m:
            by_name[m.group(2).lower()] = int(m.group(1))
            by_const[m.group(3)] = int(m.group(1))
    return by_name, by_const


def from_libndpi(so, by_name):
    """IPv4 (network, cidr, id) rows of every ndpi_network array in the library, in array order."""
    help_text = subprocess.run(["ndpiReader", "-h"], capture_output=True, text=True).stdout
    theirs = {}
    for m in re.finditer(r"^\s*(\d+) (\S+)\s+(?:TCP|UDP|TCP/UDP|\s)", help_text, re.M):
        theirs[int(m.group(1))] = m.group(2)
    data = pathlib.Path(so).read_bytes()

    def row(o):
        return struct.unpack_from("<IBBH", data, o)

    def ok(o):
        net, cidr, pad, val = row(o)
        return 1 <= cidr <= 32 and pad == 0 and 0 < val < 1024

    rows, unmapped = [], collections.Counter()
    o = 0
    while o + 8 <= len(data):
        if not ok(o):
            o += 4
            continue
        start = o
        while o + 8 <= len(data) and ok(o):
            o += 8
        n = (o - start) // 8
        # A real array ends with its { 0x0, 0, 0 } terminator.
        if n < MIN_ARRAY or row(o) != (0, 0, 0, 0):
            o = start + 4
            continue
        for i in range(n):
            net, cidr, _, val = row(start + 8 * i)
            name = theirs.get(val)
            ours = by_name.get(name.lower()) if name else None
            if ours is None:
                unmapped[(val, name)] += 1
                continue
            rows.append((4, net, cidr, ours))
        o += 8
    for (val, name), n in unmapped.items():
        print(f"skipped {n} rows of id {val} ({name}): no such protocol name here", file=sys.stderr)
    return rows


def from_source(src, by_const):
    rows = []
    v4 = re.compile(r"\{\s*(0x[0-9A-Fa-f]+)[^,]*,\s*(\d+)\s*,\s*(NDPI_\w+)\s*\}")
    v6 = re.compile(r'\{\s*"([0-9A-Fa-f:]+)"\s*,\s*(\d+)\s*,\s*(NDPI_\w+)\s*\}')
    gen = pathlib.Path(src) / "src/lib/inc_generated"
    files = sorted(gen.glob("ndpi_*_match.c.inc")) + sorted(gen.glob("ndpi_asn_*.c.inc"))
    files.append(pathlib.Path(src) / "src/lib/ndpi_content_match.c.inc")
    for f in files:
        text = f.read_text(errors="replace")
        if f.name == "ndpi_content_match.c.inc":
            # Only the address list; the file's other tables hold host names and ports.
            m = re.search(r"host_protocol_list\[\]\s*=\s*\{(.*?)\n\};", text, re.S)
            text = m.group(1) if m else ""
        for m in v4.finditer(text):
            ident = by_const.get(m.group(3))
            if ident is not None:
                rows.append((4, int(m.group(1), 16), int(m.group(2)), ident))
        for m in v6.finditer(text):
            ident = by_const.get(m.group(3))
            if ident is not None:
                rows.append((6, int(ipaddress.IPv6Address(m.group(1))), int(m.group(2)), ident))
    return rows


def flatten(prefixes, bits):
    """Longest-prefix-match over nested/disjoint CIDR blocks → sorted disjoint merged ranges."""
    blocks = {}
    for net, cidr, ident in prefixes:
        mask = ((1 << bits) - 1) ^ ((1 << (bits - cidr)) - 1)
        start = net & mask
        # A prefix listed twice: the later insert wins, as ndpi_patricia_lookup returns the node.
        blocks[(start, cidr)] = (start, start + (1 << (bits - cidr)) - 1, ident)
    ordered = sorted(blocks.values(), key=lambda b: (b[0], -b[1]))
    out = []

    def emit(s, e, ident):
        if s > e:
            return
        if out and out[-1][2] == ident and out[-1][1] + 1 == s:
            out[-1] = (out[-1][0], e, ident)
        else:
            out.append((s, e, ident))

    stack = []  # enclosing blocks, innermost last; pos = next address not yet emitted
    pos = 0
    for s, e, ident in ordered:
        while stack and stack[-1][1] < s:
            top = stack.pop()
            emit(max(pos, top[0]), top[1], top[2])
            pos = max(pos, top[1] + 1)
        if stack:
            emit(max(pos, stack[-1][0]), s - 1, stack[-1][2])
        pos = max(pos, s)
        stack.append((s, e, ident))
    while stack:
        top = stack.pop()
        emit(max(pos, top[0]), top[1], top[2])
        pos = max(pos, top[1] + 1)
    return out


def main():
    ap = argparse.ArgumentParser()
    g = ap.add_mutually_exclusive_group(required=True)
    g.add_argument("--ndpi-src")
    g.add_argument("--libndpi")
    ap.add_argument("--source-note", default="")
    args = ap.parse_args()
    by_name, by_const = our_table()
    if args.libndpi:
        rows = from_libndpi(args.libndpi, by_name)
        note = args.source_note or f"compiled tables of {args.libndpi} (Debian libndpi4.2 4.2-2)"
    else:
        rows = from_source(args.ndpi_src, by_const)
        note = args.source_note or f"nDPI checkout {args.ndpi_src}"
    v4 = flatten([(n, c, i) for fam, n, c, i in rows if fam == 4], 32)
    v6 = flatten([(n, c, i) for fam, n, c, i in rows if fam == 6], 128)
    per_app = collections.Counter(i for _, _, i in v4 + v6)
    lines = [
        "//! Generated by `classifier/tools/gen_ip_lists.py` — do not edit. nDPI's server-address lists",
        f"//! ({note}), flattened to sorted, disjoint, inclusive ranges; longest prefix wins as in nDPI's",
        f"//! patricia tree. {len(rows)} prefixes → {len(v4)} IPv4 and {len(v6)} IPv6 ranges, ids:",
        "//! " + ", ".join(f"{i}×{n}" for i, n in sorted(per_app.items())),
        "",
        "/// IPv4 ranges: (first address, last address, application id), sorted by first address.",
        "pub(crate) static V4: &[(u32, u32, u16)] = &[",
    ]
    lines += [f"    (0x{s:08x}, 0x{e:08x}, {i})," for s, e, i in v4]
    lines += [
        "];",
        "",
        "/// IPv6 ranges, as `V4`.",
        "pub(crate) static V6: &[(u128, u128, u16)] = &[",
    ]
    lines += [f"    (0x{s:032x}, 0x{e:032x}, {i})," for s, e, i in v6]
    lines += ["];", ""]
    OUT.write_text("\n".join(lines))
    print(f"{OUT}: {len(v4)} v4 + {len(v6)} v6 ranges from {len(rows)} prefixes, {OUT.stat().st_size} bytes")


if __name__ == "__main__":
    main()
