#!/usr/bin/env python3
"""Writes tokens.json: identifier-token and record-id test vectors computed
with Python's hmac/hashlib, independently of the C code (DESIGN.md section 3).

    token     = HMAC-SHA256(K, "tessera/v1/id" 0x00 kind 0x00 canonical)
    record id = HMAC-SHA256(K, "tessera/v1/record" 0x00 agency 0x00 case_ref)[:16]
    key_id    = SHA-256(K)[:4], big-endian

Run: python3 tests/vectors/make_tokens.py > tests/vectors/tokens.json
"""
import hashlib
import hmac
import json

KEY = bytes(range(32))

# (kind, input as an agency writes it, canonical form per DESIGN section 3)
TOKENS = [
    ("handle:instagram", "@Jake_2009", "jake_2009"),
    ("handle:instagram", "https://www.instagram.com/jake_2009/?hl=en", "jake_2009"),
    ("handle:tiktok", "@ＳｕｎｎｙＧｉｒｌ０７", "sunnygirl07"),
    ("handle:snapchat", "@Zoë_13", "zoë_13"),
    ("handle:x", "twitter.com/FakePeer_19", "fakepeer_19"),
    ("email", "J.Smith+x@GoogleMail.com", "jsmith@gmail.com"),
    ("email", "Offender.Name@Example.org", "offender.name@example.org"),
    ("phone", "07700 900123", "+447700900123"),
    ("phone", "+44 (0)7700 900123", "+447700900123"),
    ("bank:uk", "20-20-15 55555555", "202015-55555555"),
    ("bank:uk", "GB33BUKB20201555555555", "202015-55555555"),
    ("bank:iban", "DE89 3704 0044 0532 0130 00", "DE89370400440532013000"),
    ("payment:cashapp", "$CashTag", "cashtag"),
    ("payment:paypal", "https://paypal.me/SomeOne", "someone"),
    ("crypto:btc", "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq", "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq"),
    ("crypto:btc", "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa", "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa"),
    ("crypto:eth", "0x52908400098527886E0F7030069857D2E4169EE7", "0x52908400098527886e0f7030069857d2e4169ee7"),
    ("url", "HTTPS://WWW.Example.com/pay/?x=1#top", "https://example.com/pay"),
]

RECORDS = [
    ("leeds-cs-01", "LCC-2026-0412"),
    ("leeds-cs-01", "LCC-2026-0419"),
    ("bradford-school-07", "LCC-2026-0412"),
    ("york-college", "Café-ñ-42"),
    ("a", ""),
]


def mac(prefix, a, b):
    msg = prefix.encode() + b"\0" + a.encode() + b"\0" + b.encode()
    return hmac.new(KEY, msg, hashlib.sha256).digest()


out = {
    "key_hex": KEY.hex(),
    "key_id": int.from_bytes(hashlib.sha256(KEY).digest()[:4], "big"),
    "tokens": [
        {"kind": k, "input": i, "canonical": c, "token": mac("tessera/v1/id", k, c).hex()}
        for k, i, c in TOKENS
    ],
    "record_ids": [
        {"agency_id": a, "case_ref": r, "record_id": mac("tessera/v1/record", a, r)[:16].hex()}
        for a, r in RECORDS
    ],
}
print(json.dumps(out, indent=2, ensure_ascii=False))
