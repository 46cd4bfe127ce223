#!/usr/bin/env python3
"""Writes countries.mmdb, the GeoIP fixture of nfguard's country tests (run once; the output is
committed, so the tests need no Python).  `pip install mmdb-writer netaddr`.

Documentation ranges carry real codes for the unit tests; the lab's addresses carry codes from
ISO 3166's user-assigned range: 10.N.1.0/24 and fd00:N:1::/48 (the lab's client side) are "XC",
10.N.2.0/24 and fd00:N:2::/48 (its server side) are "XS", for every N the lab may pick.
"""
from netaddr import IPSet
from mmdb_writer import MMDBWriter

def country(code):
    return {"country": {"iso_code": code, "names": {"en": code}}}

w = MMDBWriter(ip_version=6, ipv4_compatible=True, database_type="nfguard-test-Country",
               languages=["en"], description="nfguard test fixture")
w.insert_network(IPSet(["192.0.2.0/24", "2001:db8:1::/48"]), country("DE"))
w.insert_network(IPSet(["198.51.100.0/24", "2001:db8:2::/48"]), country("FR"))
# Placed, but without a country (an anycast or satellite range in real databases).
w.insert_network(IPSet(["203.0.113.0/24"]), {"continent": {"code": "EU"}})
w.insert_network(IPSet([f"10.{n}.1.0/24" for n in range(256)] +
                       [f"fd00:{n}:1::/48" for n in range(256)]), country("XC"))
w.insert_network(IPSet([f"10.{n}.2.0/24" for n in range(256)] +
                       [f"fd00:{n}:2::/48" for n in range(256)]), country("XS"))
w.to_db_file("countries.mmdb")
