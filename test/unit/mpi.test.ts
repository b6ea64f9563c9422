/**
 * The mpi launcher's pieces, without processes: an engine's rank and size
 * from the environment each MPI gives its ranks (Open MPI's OMPI_COMM_WORLD_*
 * first, else PMI_*); the flavour of an mpiexec by its --version text; the
 * command line of a launch (Open MPI's own flags only for Open MPI, and
 * --allow-run-as-root only as root; `--opt=value` split for Open MPI only);
 * the --mpiexec setting split into words.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { mpiPlace } from '../../engine/mpi.js';
import { mpiFlavourOf, mpiexecCommand, mpiexecWords, openMpiWords } from '../../launcher/mpi.js';

describe('mpiPlace: rank and size from the environment', () => {
  test("Open MPI's variables", () => {
    assert.deepEqual(mpiPlace({ OMPI_COMM_WORLD_RANK: '2', OMPI_COMM_WORLD_SIZE: '4' }), { rank: 2, size: 4 });
  });

  test("PMI_RANK/PMI_SIZE (MPICH's Hydra and others) when Open MPI's are absent; Open MPI's win when both are there", () => {
    assert.deepEqual(mpiPlace({ PMI_RANK: '0', PMI_SIZE: '1' }), { rank: 0, size: 1 });
    assert.deepEqual(mpiPlace({ OMPI_COMM_WORLD_RANK: '3', OMPI_COMM_WORLD_SIZE: '8', PMI_RANK: '1', PMI_SIZE: '2' }), { rank: 3, size: 8 });
  });

  test('outside an MPI job, or with values that are not a rank below a size: null', () => {
    assert.equal(mpiPlace({}), null);
    assert.equal(mpiPlace({ OMPI_COMM_WORLD_RANK: '1' }), null);
    assert.equal(mpiPlace({ PMI_RANK: 'x', PMI_SIZE: '2' }), null);
    assert.equal(mpiPlace({ PMI_RANK: '-1', PMI_SIZE: '2' }), null);
    assert.equal(mpiPlace({ PMI_RANK: '2', PMI_SIZE: '2' }), null);
    assert.equal(mpiPlace({ PMI_RANK: '1.5', PMI_SIZE: '2' }), null);
    // a broken Open MPI pair falls back to PMI's
    assert.deepEqual(mpiPlace({ OMPI_COMM_WORLD_RANK: '', OMPI_COMM_WORLD_SIZE: '4', PMI_RANK: '1', PMI_SIZE: '2' }), { rank: 1, size: 2 });
  });
});

describe('the flavour of an mpiexec, by its --version', () => {
  test('Open MPI 4 (OpenRTE) and 5 (PRRTE)', () => {
    assert.equal(mpiFlavourOf('mpiexec (OpenRTE) 4.1.4\n\nReport bugs to http://www.open-mpi.org/community/help/\n'), 'openmpi');
    assert.equal(mpiFlavourOf('mpirun (Open MPI) 5.0.3\n\nReport bugs to https://www.open-mpi.org/community/help/\n'), 'openmpi');
  });

  test("MPICH's Hydra, Intel MPI, anything else: the others", () => {
    assert.equal(mpiFlavourOf('HYDRA build details:\n    Version:                                 4.0.2\n'), 'other');
    assert.equal(mpiFlavourOf('Intel(R) MPI Library for Linux* OS, Version 2021.10 Build 20230619\n'), 'other');
    assert.equal(mpiFlavourOf(''), 'other');
  });
});

describe('the mpiexec command line of a launch', () => {
  const engine = ['/usr/bin/node', '/app/dist/engine/main.js', '--file', '/p/security/tscluster-engine.json'];

  test('Open MPI: --oversubscribe, and --allow-run-as-root as root only; the extra arguments before the engine command', () => {
    assert.deepEqual(mpiexecCommand({ mpiexec: ['mpiexec'], flavour: 'openmpi', root: true, n: 4, mpiArgs: ['--host=a,b'], engine }), [
      'mpiexec',
      '--allow-run-as-root',
      '--oversubscribe',
      '-n',
      '4',
      '--host',
      'a,b',
      ...engine,
    ]);
    assert.deepEqual(mpiexecCommand({ mpiexec: ['mpiexec'], flavour: 'openmpi', root: false, n: 2, mpiArgs: [], engine }), [
      'mpiexec',
      '--oversubscribe',
      '-n',
      '2',
      ...engine,
    ]);
  });

  test('Open MPI: an extra --opt=value is given as --opt value (Open MPI 4 takes no other form); other arguments as they are', () => {
    assert.deepEqual(
      mpiexecCommand({
        mpiexec: ['mpiexec'],
        flavour: 'openmpi',
        root: false,
        n: 8,
        mpiArgs: ['--host=node1:4,node2:4', '--bind-to', 'none', '-x', 'A=b', '--mca', 'btl', 'self,tcp', '--tag-output', '--x=a=b', '-np=3', '--=x'],
        engine,
      }),
      [
        'mpiexec',
        '--oversubscribe',
        '-n',
        '8',
        '--host',
        'node1:4,node2:4',
        '--bind-to',
        'none',
        '-x',
        'A=b',
        '--mca',
        'btl',
        'self,tcp',
        '--tag-output',
        '--x',
        'a=b',
        '-np=3',
        '--=x',
        ...engine,
      ],
    );
    assert.deepEqual(openMpiWords('--map-by=ppr:2:node'), ['--map-by', 'ppr:2:node']);
    assert.deepEqual(openMpiWords('--host='), ['--host', '']);
  });

  test('another mpiexec (Hydra): none of Open MPI-only flags, even as root; its extra arguments as they are', () => {
    assert.deepEqual(
      mpiexecCommand({ mpiexec: ['mpiexec.hydra'], flavour: 'other', root: true, n: 3, mpiArgs: ['-ppn', '2', '--hosts=a'], engine }),
      ['mpiexec.hydra', '-n', '3', '-ppn', '2', '--hosts=a', ...engine],
    );
  });

  test('--mpiexec: a command, with arguments of its own split at white space', () => {
    assert.deepEqual(mpiexecWords('mpiexec'), ['mpiexec']);
    assert.deepEqual(mpiexecWords(' /opt/ompi/bin/mpirun  --mca btl self,tcp '), ['/opt/ompi/bin/mpirun', '--mca', 'btl', 'self,tcp']);
  });
});
