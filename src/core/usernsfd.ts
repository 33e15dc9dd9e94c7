/** A user-namespace descriptor that closes itself exactly once. */
import { errnoText, syscallError } from "./errors.ts";
import { FdHandle } from "./fd-handle.ts";
import * as processCodec from "./process-codec.ts";

export class UsernsFd extends FdHandle {
  constructor(fd: number) {
    super(fd, "UsernsFd");
  }

  /** NS_GET_OWNER_UID: the uid that owns this user namespace. */
  ownerUid(): number {
    const uid = processCodec.ownerUid(this.fd);
    if (uid < 0) throw syscallError("namespace", "ioctl", -uid, `NS_GET_OWNER_UID: ${errnoText(-uid)}`);
    return uid;
  }
}
