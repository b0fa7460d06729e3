"""C2PA manifests signed in tests with the CAI's own library (``c2pa-python``): a test root
certificate and a claim signer it issued, made with ``cryptography``."""

from __future__ import annotations

import datetime as dt
import io
import json

IPTC = "http://cv.iptc.org/newscodes/digitalsourcetype/"


def make_signer():
    """``f() -> c2pa.Signer`` (ES256): a new signer each call (signing consumes one), all from one
    test root and an end-entity certificate it signed, with the key usage and extended key usage
    C2PA requires of a claim signer."""
    import c2pa
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn),
                          x509.NameAttribute(NameOID.ORGANIZATION_NAME, "dfrec tests")])

    def usage(ca: bool) -> x509.KeyUsage:
        return x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                             data_encipherment=False, key_agreement=False, key_cert_sign=ca, crl_sign=ca,
                             encipher_only=False, decipher_only=False)

    now = dt.datetime.now(dt.timezone.utc)
    root_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())

    def cert(subject, issuer, public, ca):
        b = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(public)
             .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
             .not_valid_after(now + dt.timedelta(days=365))
             .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
             .add_extension(usage(ca), critical=True))
        if not ca:
            b = (b.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
                 .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
                 .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()),
                                critical=False))
        return b.sign(root_key, hashes.SHA256())

    root = cert(name("dfrec test root"), name("dfrec test root"), root_key.public_key(), True)
    leaf = cert(name("dfrec test signer"), root.subject, key.public_key(), False)
    chain = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in (leaf, root))
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    return lambda: c2pa.Signer.from_info(c2pa.C2paSignerInfo(b"es256", chain, pem, None))


def sign(signer, picture: bytes, mime: str, source_type: str) -> bytes:
    """``picture`` (a file's bytes, of ``mime``) with a signed manifest: made by "dfrec-tests 1.0",
    one ``c2pa.created`` action by "Some Image Model 2" declaring the IPTC ``source_type``."""
    import c2pa

    act = {"action": "c2pa.created", "softwareAgent": {"name": "Some Image Model 2"},
           "digitalSourceType": IPTC + source_type}
    manifest = {"claim_generator_info": [{"name": "dfrec-tests", "version": "1.0"}], "title": "picture",
                "assertions": [{"label": "c2pa.actions", "data": {"actions": [act]}}]}
    out = io.BytesIO()
    with c2pa.Builder(json.dumps(manifest)) as builder:
        builder.sign(signer(), mime, io.BytesIO(picture), out)
    return out.getvalue()
