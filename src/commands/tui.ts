// placeholder: the TUI lands with its own change
import { NatscopeError } from '../errors.js';
export async function tui(_options: unknown): Promise<number> {
  throw new NatscopeError('the TUI is not built yet');
}
