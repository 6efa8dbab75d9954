#!/usr/bin/env python3
"""Counts the code blocks QEMU's TCG translates for one run of a program, per mapped object.

Under TCG (these machines' VMs: no KVM) a boot's time follows the new code it runs: every block of
guest code is translated once at its address before it runs, which costs far more than running it
again. qemu-user shares the translator with qemu-system, so the blocks a program translates here
are those it translates in a guest, counted exactly, with none of the host's noise in the figure
(bench/RESULTS.md, 2026-12-05 (2nd)). Needs python3 and qemu-user (`apt-get install qemu-user`);
runs the program for real (as the user running this).

  bench/tcg-blocks.py [--symbols OBJECT] [--timeline N] [--log FILE] -- PROGRAM [ARGS...]

Prints the total, then the blocks of each object (the program, the loader, each library);
--symbols OBJECT: that object's blocks by the symbol before them (`nm`; a library's exported
ones only, so a static function counts under the exported one before it);
--timeline N: each system call after which at least N blocks were translated since the last one
printed, with the running total (where a run's blocks go, phase by phase).
"""
import argparse
import bisect
import collections
import os
import re
import signal
import struct
import subprocess
import sys
import tempfile

OPENAT = re.compile(r'openat\(.*?"([^"]+)".*\) = (\d+)$')
MMAP = re.compile(r'mmap\((NULL|0x[0-9a-f]+),(\d+),[\w|]+,[\w|]+,(\d+),(0x[0-9a-f]+|\d+)\) = (0x[0-9a-f]+)')
SYSCALL = re.compile(r'^\d+ (\w+)\((.*)')
BLOCK = re.compile(r'^0x([0-9a-f]+):')


def symbols(path, dynamic):
    out = subprocess.run(['nm', '-C', '--defined-only'] + (['-D'] if dynamic else []) + [path],
                         capture_output=True, text=True).stdout
    table = sorted((int(f[0], 16), f[2]) for f in (line.split(' ', 2) for line in out.splitlines())
                   if len(f) == 3 and f[1] in 'tTwW')
    return [a for a, _ in table], [n for _, n in table]


def program_span(path):
    """(load base under qemu-user, lowest and highest address of its PT_LOAD segments)."""
    with open(path, 'rb') as f:
        header = f.read(64)
        e_type, = struct.unpack_from('<H', header, 16)
        phoff, = struct.unpack_from('<Q', header, 32)
        phentsize, phnum = struct.unpack_from('<HH', header, 54)
        f.seek(phoff)
        table = f.read(phentsize * phnum)
    spans = []
    for i in range(phnum):
        p_type, = struct.unpack_from('<I', table, i * phentsize)
        p_vaddr, = struct.unpack_from('<Q', table, i * phentsize + 16)
        p_memsz, = struct.unpack_from('<Q', table, i * phentsize + 40)
        if p_type == 1:  # PT_LOAD
            spans.append((p_vaddr, p_vaddr + p_memsz))
    return (0x4000000000 if e_type == 3 else 0), min(s for s, _ in spans), max(e for _, e in spans)


def main():
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    parser = argparse.ArgumentParser(usage=__doc__.split('\n\n')[2].strip())
    parser.add_argument('--symbols')
    parser.add_argument('--timeline', type=int)
    parser.add_argument('--log')
    parser.add_argument('command', nargs=argparse.REMAINDER)
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ['--'] else args.command
    if not command:
        parser.error('no program given')
    log = args.log or tempfile.mkstemp(prefix='tcg-blocks-', suffix='.log')[1]
    try:
        # -strace and -d in_asm both go to the log, in the order they happen.
        subprocess.run(['qemu-x86_64', '-strace', '-d', 'in_asm', '-D', log] + command,
                       stdout=subprocess.DEVNULL)
    except FileNotFoundError:
        sys.exit('tcg-blocks: no qemu-x86_64 here (apt-get install qemu-user)')
    program = os.path.realpath(subprocess.run(['sh', '-c', 'command -v "$1"', 'sh', command[0]],
                                              capture_output=True, text=True).stdout.strip()
                               or command[0])
    objects = []  # (start, end, path): what the loader mapped from a file at offset 0
    fds = {}
    blocks = []  # the first address of each block translated, in order
    calls = []  # (blocks translated before it, name, arguments)
    want_address = False
    with open(log, errors='replace') as f:
        for line in f:
            if line.startswith('IN:'):
                want_address = True
                continue
            if want_address:
                m = BLOCK.match(line)
                if m:
                    blocks.append(int(m.group(1), 16))
                    want_address = False
                    continue
            m = SYSCALL.match(line)
            if not m:
                continue
            calls.append((len(blocks), m.group(1), m.group(2)[:100]))
            o = OPENAT.search(line)
            if o:
                fds[int(o.group(2))] = o.group(1)
                continue
            o = MMAP.search(line)
            if o and o.group(1) == 'NULL' and int(o.group(4), 0) == 0 and int(o.group(3)) in fds:
                start = int(o.group(5), 16)
                objects.append((start, start + int(o.group(2)), fds[int(o.group(3))]))
    if not args.log:
        os.unlink(log)
    # qemu-user maps the program and its loader itself: a position-independent program at its
    # guest base (0x4000000000 on x86-64 hosts), another at the addresses its segments name.
    base, low, high = program_span(program)
    objects.append((base + low, base + high, program))
    objects.sort()
    starts = [o[0] for o in objects]

    def owner(address):
        i = bisect.bisect_right(starts, address) - 1
        if i >= 0 and address < objects[i][1]:
            return objects[i][2], base if objects[i][2] == program else objects[i][0]
        return 'the loader (or unknown)', 0

    per_object = collections.Counter()
    per_symbol = collections.Counter()
    table = None
    for address in blocks:
        path, origin = owner(address)
        per_object[path] += 1
        if args.symbols and os.path.basename(path) == os.path.basename(args.symbols):
            if table is None:
                table = symbols(path, path != program)
            i = bisect.bisect_right(table[0], address - origin) - 1
            per_symbol[table[1][i][:100] if i >= 0 else '?'] += 1
    print(f'{len(blocks)} blocks translated')
    for path, n in per_object.most_common():
        print(f'{n:7d}  {os.path.basename(path)}')
    if args.symbols:
        print(f'\n{args.symbols} by symbol:')
        for name, n in per_symbol.most_common(40):
            print(f'{n:7d}  {name}')
    if args.timeline:
        print('\nblocks since the last line, running total, system call:')
        last = 0
        for count, name, arguments in calls:
            if count - last >= args.timeline:
                print(f'{count - last:7d} {count:7d}  {name}({arguments}')
                last = count


if __name__ == '__main__':
    main()
