#!/usr/bin/env python3
"""Makes an sftp symlink with asyncssh and reads it back. asyncssh swaps SYMLINK's arguments
when the server's version line says OpenSSH, whose sftp-server takes them in the reverse of
the draft's order; a proxy in front of OpenSSH must therefore present itself as OpenSSH too.

usage: sftp_symlink.py PORT USER PASSWORD
Prints the server's version line and what the new link points to.
"""
import asyncio
import sys
import uuid

import asyncssh


async def main():
    port, user, password = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    async with asyncssh.connect("127.0.0.1", port, username=user, password=password, known_hosts=None,
                                preferred_auth="password") as connection:
        link = f"sb-link-{uuid.uuid4().hex[:8]}"
        async with connection.start_sftp_client() as sftp:
            try:
                await sftp.symlink("target.txt", link)
                target = await sftp.readlink(link)
            except (asyncssh.SFTPError, OSError) as error:
                target = f"error: {error}"
            for name in (link, "target.txt"):
                try:
                    await sftp.remove(name)
                except (asyncssh.SFTPError, OSError):
                    pass
        print(connection.get_extra_info("server_version"))
        print(target)


if __name__ == "__main__":
    asyncio.run(main())
