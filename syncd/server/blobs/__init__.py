"""Blob storage seam of the server: `BlobStore` (store.py) keeps media bytes by content hash
behind one small backend protocol (backend.py): a local folder (local.py) or an
S3-compatible bucket (s3.py, imported only when `--blobs s3://...` is given)."""
