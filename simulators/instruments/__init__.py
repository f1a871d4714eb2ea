"""Emulate the instruments' wire protocols byte for byte, on top of the virtual lab.

One state machine per instrument (:mod:`.sr400`, :mod:`.keysight_53230a`, :mod:`.lcc25`,
:mod:`.keysight_33500`); :func:`heralder.simulators.instruments.registry.make_emulator` builds one
by model name for the ``sim://`` URL handler, the loopback TCP server and ``heralder emulate``.
"""
