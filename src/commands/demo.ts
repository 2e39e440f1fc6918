// placeholder: the walkthrough lands with its own change
import { NatscopeError } from '../errors.js';
export async function demo(_options: unknown): Promise<number> {
  throw new NatscopeError('the walkthrough is not built yet');
}
