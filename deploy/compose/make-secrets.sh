#!/bin/sh
# Creates deploy/compose/secrets/ for compose.yaml once: the PostgreSQL passwords, the
# Fernet key that seals HTTP signing secrets, and a signing key pair for API tokens
# (auth/jwks.json verifies, auth/signing.pem mints: `kairos token --data secrets ...`).
# Existing files are kept. The folder is private to you (0700); the files in it are
# readable (0644) so the containers' non-root user can read its bind-mounted copies.
# The key pair is made with the image: IMAGE=localhost/kairos:dev ENGINE=podman.
set -eu
cd "$(dirname "$0")"
mkdir -p secrets/auth
chmod 0700 secrets
for name in postgres_password kairos_scheduler_password kairos_app_password; do
  [ -s "secrets/$name" ] || od -An -tx1 -N24 /dev/urandom | tr -d ' \n' > "secrets/$name"
done
# A Fernet key is 32 random bytes, URL-safe base64.
[ -s secrets/kairos_secret_key ] || head -c 32 /dev/urandom | base64 | tr '+/' '-_' > secrets/kairos_secret_key
if [ ! -s secrets/auth/jwks.json ]; then
  "${ENGINE:-podman}" run --rm --user "$(id -u):$(id -g)" -v "$PWD/secrets:/out" \
    "${IMAGE:-localhost/kairos:dev}" python3 -c \
    "from pathlib import Path; from adapters.auth.tokens import DevKeys; DevKeys(Path('/out/auth')).ensure()"
fi
chmod 0644 secrets/postgres_password secrets/kairos_scheduler_password \
  secrets/kairos_app_password secrets/kairos_secret_key secrets/auth/jwks.json
echo "secrets in $PWD/secrets"
