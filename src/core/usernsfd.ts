/** A user-namespace descriptor that closes itself exactly once. */
import { errnoText, syscallError } from "./errors.ts";
import * as native from "./native.ts";

export class UsernsFd implements Disposable {
  #fd: number;

  constructor(fd: number) {
    this.#fd = fd;
  }

  /** The descriptor (O_CLOEXEC); -1 once closed. */
  get fd(): number {
    return this.#fd;
  }

  get closed(): boolean {
    return this.#fd < 0;
  }

  /** NS_GET_OWNER_UID: the uid that owns this user namespace. */
  ownerUid(): number {
    const uid = native.ownerUid(this.#fd);
    if (uid < 0) throw syscallError("namespace", "ioctl", -uid, `NS_GET_OWNER_UID: ${errnoText(-uid)}`);
    return uid;
  }

  /** Close the descriptor; later calls do nothing. */
  close(): void {
    const fd = this.#fd;
    if (fd < 0) return;
    this.#fd = -1;
    native.close(fd);
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
