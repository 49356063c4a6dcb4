# accelgen: clock constraint for the design's single clock domain
create_clock -name clk -period 10 [get_ports {clk}]
