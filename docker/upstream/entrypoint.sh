#!/bin/sh
# Configures the lab host from its environment, then runs sshd in the foreground:
#   UPSTREAM_NAME            marker shown as $SWITCHBOARD_UPSTREAM in sessions
#   ALICE_PASSWORD, BOB_PASSWORD
#   ALICE_AUTHORIZED_KEYS, BOB_AUTHORIZED_KEYS   (optional authorized_keys lines)
set -eu
echo "alice:${ALICE_PASSWORD:?}" | chpasswd
echo "bob:${BOB_PASSWORD:?}" | chpasswd
for user in alice bob; do
  keys=$(eval "printf '%s' \"\${$(echo "$user" | tr a-z A-Z)_AUTHORIZED_KEYS:-}\"")
  if [ -n "$keys" ]; then
    install -d -m 0700 -o "$user" -g "$user" "/home/$user/.ssh"
    printf '%s\n' "$keys" > "/home/$user/.ssh/authorized_keys"
    chown "$user:$user" "/home/$user/.ssh/authorized_keys"
    chmod 0600 "/home/$user/.ssh/authorized_keys"
  fi
done
ssh-keygen -A >/dev/null
cat > /etc/ssh/sshd_config.d/lab.conf <<CONF
PasswordAuthentication yes
KbdInteractiveAuthentication no
PubkeyAuthentication yes
PermitRootLogin no
SetEnv SWITCHBOARD_UPSTREAM=${UPSTREAM_NAME:-upstream}
CONF
exec /usr/sbin/sshd -D -e
