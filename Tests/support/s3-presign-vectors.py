"""Prints S3 presigned GET URLs made by botocore for fixed credentials and a fixed time: the
vectors `Tests/CryptoTests` (S3 presigning) checks reelgate's SigV4 presigner against.
Regenerate: python3 -m venv v && v/bin/pip install botocore && v/bin/python Tests/support/s3-presign-vectors.py
"""
import datetime
from unittest import mock

import botocore.session
from botocore.config import Config

FIXED = datetime.datetime(2026, 12, 4, 12, 30, 45)


class FrozenDateTime(datetime.datetime):
    @classmethod
    def utcnow(cls):
        return FIXED

    @classmethod
    def now(cls, tz=None):
        return FIXED.replace(tzinfo=tz) if tz else FIXED


CASES = [
    # endpoint, region, addressing, bucket, key, expires
    ("http://127.0.0.1:9000", "us-east-1", "path", "videos", "reelgate/01a2-b3.mp4", 3600),
    ("https://s3.eu-central-1.amazonaws.com", "eu-central-1", "virtual", "team-media", "prefix/with space/ünï+c=d&e.mp4", 86400),
    ("https://minio.internal:9443", "auto", "path", "b", "a/b/c~d_e-f.g.webm", 604800),
]

for endpoint, region, style, bucket, key, expires in CASES:
    session = botocore.session.get_session()
    client = session.create_client(
        "s3", region_name=region, endpoint_url=endpoint,
        aws_access_key_id="AKIAIOSFODNN7EXAMPLE", aws_secret_access_key="wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        config=Config(signature_version="s3v4", s3={"addressing_style": style}))
    with mock.patch("botocore.auth.datetime.datetime", FrozenDateTime):
        url = client.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=expires)
    print(endpoint, region, style, bucket, key, expires)
    print(url)

# Header-signed requests (the Authorization of botocore's S3SigV4Auth); botocore signs the empty
# body's SHA-256 as the payload hash.
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

REQUESTS = [
    ("PUT", "http://127.0.0.1:9000/videos/reelgate/01a2-b3.mp4", {"Content-Type": "video/mp4"}),
    ("POST", "http://127.0.0.1:9000/videos/big%20file.mp4?uploads=", {}),
    ("PUT", "http://127.0.0.1:9000/videos/big%20file.mp4?partNumber=2&uploadId=abc%2Fdef", {}),
    ("GET", "https://team-media.s3.eu-central-1.amazonaws.com/k.mp4", {"Range": "bytes=0-99"}),
]
for method, url, headers in REQUESTS:
    region = "eu-central-1" if "amazonaws" in url else "us-east-1"
    request = AWSRequest(method=method, url=url, headers=dict(headers, **{"X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD"}))
    with mock.patch("botocore.auth.datetime.datetime", FrozenDateTime):
        S3SigV4Auth(Credentials("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"), "s3", region).add_auth(request)
    print(method, url, headers)
    print(request.headers["Authorization"])
