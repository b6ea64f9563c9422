/** `tscluster nbrun`: run notebooks cell by cell and save them with their outputs. */
import { UsageError, parse } from './args.js';
import type { Command } from './args.js';

const help = (): string => `Usage: tscluster nbrun NOTEBOOK... [--url URL --token T] [--out DIR] [--timeout S] [--kernel NAME]

Run notebooks cell by cell through a Jupyter server and save each with its
outputs. Each notebook gets a fresh kernel (the one its metadata.kernelspec
names; the notebooks of this project use tslab), shut down when it is done.
Prints a line per cell. Stops at the first cell that fails (an error, a
timeout, a dead kernel), names the notebook and the cell and prints the error
(name, value, traceback), writes that notebook with the outputs so far, and
exits 1.

Without --url it starts a temporary local server ('jupyter notebook' on
127.0.0.1, a random free port, a random token; its notebook directory is the
notebooks' common directory, so each kernel starts in its notebook's
directory, with node_modules/.bin on PATH) and ends it and every process that
ran under it when done, on error and on Ctrl-C.

Options:
  --url URL            a running Jupyter server, e.g. http://127.0.0.1:8888/ (a
                       ?token= in the URL is used); run nbrun from the server's
                       root directory so kernels start beside their notebooks
  --token T            the server's token (default: from --url, else $JUPYTER_TOKEN)
  --out DIR            write the executed notebooks into DIR (default: in place)
  --timeout S          seconds one cell may run before it is interrupted and
                       the run fails (default 600; 0 = no limit)
  --kernel NAME        run every notebook with this kernel
  -h, --help           this help

Exit codes: 0 every notebook ran, 1 a cell or the run failed, 2 bad usage,
130 interrupted.

Examples:
  tscluster nbrun notebooks/*.ipynb
  tscluster nbrun notebooks/01-quickstart.ipynb --out /tmp/executed --timeout 120
  tscluster nbrun analysis.ipynb --url http://127.0.0.1:8888/ --token "$JUPYTER_TOKEN"
  tscluster nbrun analysis.ipynb --url 'http://127.0.0.1:8888/?token=abc123'`;

async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parse(
    argv,
    { url: { type: 'string' }, token: { type: 'string' }, out: { type: 'string' }, timeout: { type: 'string' }, kernel: { type: 'string' } },
    help,
  );
  if (values.help) return (console.log(help()), 0);
  if (positionals.length === 0) throw new UsageError(`name at least one notebook\n\n${help()}`);
  if (values.token !== undefined && values.url === undefined)
    throw new UsageError('--token goes with --url (a temporary local server makes its own token)');
  const timeoutS = values.timeout === undefined ? undefined : Number(values.timeout);
  if (timeoutS !== undefined && !(Number.isFinite(timeoutS) && timeoutS >= 0))
    throw new UsageError(`--timeout must be a number of seconds >= 0, got '${String(values.timeout)}'`);
  // @jupyterlab/services is loaded by the notebook runner only
  const { nbrun } = await import('../nbrun/run.js');
  return nbrun(positionals, {
    ...(typeof values.url === 'string' ? { url: values.url } : {}),
    ...(typeof values.token === 'string' ? { token: values.token } : {}),
    ...(typeof values.out === 'string' ? { out: values.out } : {}),
    ...(timeoutS !== undefined ? { timeoutS } : {}),
    ...(typeof values.kernel === 'string' ? { kernel: values.kernel } : {}),
  });
}

export const nbrun: Command = { summary: 'run Jupyter notebooks cell by cell and save them with their outputs', help, run };
